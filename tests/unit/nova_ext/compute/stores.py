# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.
"""Stores for the publisher's tests: they record what it writes.

A store has the three write methods of
:class:`nova_ext.compute.store.NovaStore`; nova's objects are never touched.
"""

import collections


class Recorder:
    """A store that records; the methods named in ``broken`` raise."""

    def __init__(self, broken=()):
        self.keys, self.events, self.progress = [], [], []
        self.broken = set(broken)
        self.attempts = collections.Counter()

    def _try(self, method):
        self.attempts[method] += 1
        if method in self.broken:
            raise RuntimeError('db down')

    def metadata(self, keys):
        self._try('metadata')
        self.keys.append(keys)

    def event(self, name, failure):
        self._try('event')
        self.events.append((name, failure))

    def stats(self, obs, progress):
        self._try('stats')
        self.progress.append(progress)


#: every write method of a store
WRITES = ('metadata', 'event', 'stats')


class RecordingStore:
    """A store over a server's metadata: ``keys`` may be a function of
    the metadata now (as :meth:`NovaStore.metadata` takes them); events
    are kept by name.
    """

    def __init__(self, current=None):
        self.keys, self.events = [], []
        self.current = dict(current or {})

    def metadata(self, keys):
        if callable(keys):
            keys = keys(dict(self.current))
        self.current.update(keys)
        self.keys.append(keys)

    def event(self, name, failure):
        self.events.append(name)

    def stats(self, obs, progress):
        pass
