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
"""One host while a drain empties it, and its line of the final summary."""

import collections
import dataclasses

from osc_livemigrate.follow import final
from osc_livemigrate.plan import drain as dp
from osc_livemigrate.plan import report as rp


@dataclasses.dataclass
class Running:
    item: dp.Item
    host: str
    attempt: int
    started: float
    newest: int = None
    dest: str = None


@dataclasses.dataclass
class HostRun:
    """One host while it drains, and its line of the final summary."""

    host: str
    items: tuple
    results: dict = dataclasses.field(default_factory=dict)
    started: float = None
    ended: float = None
    moved_bytes: int = 0
    decisions: collections.Counter = dataclasses.field(
        default_factory=collections.Counter
    )
    state: str = rp.PENDING
    stop: str = ''

    def left(self):
        return len(self.items) - len(self.results)

    def tally(self, srv, record):
        """Add what the driver reported of one finished move: the bytes it
        sent and its policy's last decision (``'adaptive: postcopy'``).
        """
        figures = final.figures(
            getattr(srv, 'metadata', None), getattr(record, 'uuid', None)
        )
        if not figures:
            return
        self.moved_bytes += (figures.get('memory_bytes') or 0) + (
            figures.get('disk_bytes') or 0
        )
        key = '%s: %s' % (
            figures.get('policy') or '?',
            figures.get('action') or 'nothing',
        )
        self.decisions[key] += 1

    def count(self, *results):
        """How many servers ended with one of ``results``."""
        return sum(1 for r in self.results.values() if r.result in results)


@dataclasses.dataclass(frozen=True)
class Hooks:
    """What the runner does to the cloud besides migrating.

    ``plan(host) -> [drain.Item]`` (the host's servers as they are when
    its wave starts; None: the plan's), ``disable(host)``, ``enable(host)``
    and ``wait_for(host) -> (ok, message)`` are called once per host;
    ``save()`` after every change of the report; ``progress(runner)`` once
    per poll.
    """

    disable: object
    enable: object = None
    wait_for: object = None
    save: object = None
    progress: object = None
    plan: object = None


def remaining_bytes(migration):
    """Bytes a migration record says are left (memory + disk), or None."""
    mem = getattr(migration, 'memory_remaining_bytes', None)
    disk = getattr(migration, 'disk_remaining_bytes', None)
    if mem is None and disk is None:
        return None
    return (mem or 0) + (disk or 0)
