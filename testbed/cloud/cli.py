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
"""The ``openstack`` CLI as the mini-cloud's admin, for tests and the demo.

Tests drive the real CLI (the plugin installed beside it) the way an
operator does; every ``server create`` it runs for an owner carries the
owner's mark (:mod:`testbed.cloud.session`), so a test session tells its
own servers from the demo's.
"""

import json
import os
import subprocess
import sys

from testbed.cloud import session


class AdminCli:
    """Runs ``openstack`` with the admin's ``OS_*`` variables.

    :param layout: the cloud's :class:`~testbed.cloud.layout.Layout`
    :param owner: mark for the servers it creates (None: no mark)
    :param binary: the ``openstack`` executable; default
        ``$LIVEMIGRATE_OPENSTACK``, the one beside this interpreter, or the
        cloud's own venv's
    """

    def __init__(self, layout, owner=None, binary=None):
        self.layout = layout
        self.owner = owner
        self._binary = binary

    @property
    def binary(self):
        if self._binary:
            return self._binary
        if os.environ.get('LIVEMIGRATE_OPENSTACK'):
            return os.environ['LIVEMIGRATE_OPENSTACK']
        beside = os.path.join(os.path.dirname(sys.executable), 'openstack')
        if os.path.exists(beside):
            return beside
        return self.layout.venv_bin('main', 'openstack')

    def run(self, *args, check=True, timeout=600):
        """Run the CLI; return its CompletedProcess (text).

        :raises subprocess.CalledProcessError: if check and the CLI fails
            (the message carries its stderr).
        """
        env = dict(os.environ)
        env.update(self.layout.admin_env())
        env.setdefault('PYTHONWARNINGS', 'ignore')
        args = self.marked(args)
        r = subprocess.run(
            [self.binary] + [str(a) for a in args],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        if check and r.returncode != 0:
            raise subprocess.CalledProcessError(
                r.returncode,
                r.args,
                r.stdout,
                r.stderr
                + '\n(openstack %s failed: %s)'
                % (' '.join(args), r.stderr.strip()[-500:]),
            )
        return r

    def marked(self, args):
        """``args`` with the owner's mark added to a ``server create``."""
        if not self.owner or tuple(args[:2]) != ('server', 'create'):
            return args
        mark = '%s=%s' % (session.OWNER_KEY, self.owner)
        return tuple(args[:2]) + ('--property', mark) + tuple(args[2:])

    def json(self, *args, **kw):
        """:meth:`run` with ``-f json``; the parsed output."""
        return json.loads(self.run(*(args + ('-f', 'json')), **kw).stdout)
