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
"""Start the services of the table, wait until they answer, stop them in
stages, and say how each is doing.

What a service is comes from :mod:`testbed.cloud.services`; the processes
themselves from :mod:`testbed.cloud.procs`.
"""

import os
import time

from testbed.cloud import layout as lay
from testbed.cloud import probes as probing
from testbed.cloud import procs
from testbed.cloud.procs import CloudError
from testbed.cloud import services as svc
from testbed.cloud import startup


class Supervisor:
    """The services of one cloud.

    :param layout: the cloud's layout.
    :param table: its :class:`testbed.cloud.procs.ProcessTable`.
    :param pair: its HostPair (libvirt mode) or None.
    :param probes: a :class:`testbed.cloud.probes.Probes`.
    :param timed: ``timed(label, t0)`` records how long a start took.
    """

    def __init__(self, layout, table, pair, probes, timed):
        self.layout = layout
        self.table = table
        self.pair = pair
        self.probes = probes
        self._timed = timed

    def env(self, extra=None):
        """The environment of every process and step of the cloud."""
        env = dict(os.environ)
        env.update(startup.wsgi_env(self.layout))
        env.update(extra or {})
        return env

    def run(self, services):
        """Start every service that is not running yet, then wait until
        each answers.
        """
        self.wait(self.start(services))

    def start(self, services):
        """Start the services that are not running; return what :meth:`wait`
        needs to wait for all of them.

        :raises CloudError: if a service's port is taken by a stranger.
        """
        waits = []
        for s in services:
            log = self.layout.log(s.name)
            pid = self.table.pid(s.name)
            if pid:
                waits.append((s, log, None, pid, None))
                continue
            port = self.layout.ports[s.port] if s.port else None
            if port is not None and not probing.port_free(lay.HOST, port):
                raise CloudError(
                    s.name,
                    'port %s:%d is already in use by a process this '
                    'cloud did not start' % (lay.HOST, port),
                    log,
                )
            t0 = time.monotonic()
            launch = s.launch(self.layout, self.pair)
            proc = self.table.start(
                s.name,
                launch.argv,
                log,
                env=self.env(launch.env),
                cwd=launch.cwd,
            )
            waits.append((s, log, proc, None, t0))
        return waits

    def wait(self, waits):
        for s, log, proc, pid, t0 in waits:
            procs.wait_until(
                s.name,
                lambda s=s: s.probe(self.probes),
                log,
                s.timeout,
                proc=proc,
                pid=pid,
            )
            if t0 is not None:
                self._timed('start-' + s.name, t0)

    def stop(self, services):
        """Stop the services stage by stage (see ``services.STOP_STAGES``),
        then anything else recorded, then stragglers carrying the cloud's
        marker.

        :returns: (names that were running, pids of the stragglers).
        """
        stopped = []
        for stage, timeout in svc.STOP_STAGES:
            names = [s.name for s in services if s.stops == stage]
            stopped += self.table.stop_many(names, timeout=timeout)
        stopped += self.table.stop_many(
            list(self.table.load()), timeout=svc.LEFTOVER_TIMEOUT
        )
        return stopped, self.table.kill_marked()

    def status(self, services):
        """[(service, pid or None, answers: bool, detail)] per service."""
        out = []
        for s in services:
            pid = self.table.pid(s.name)
            reason = s.status_probe(self.probes)
            log = self.layout.log(s.name)
            if pid is None:
                detail = 'not running (log: %s)' % log
                if reason is None:
                    detail = 'answers, but not started by this cloud'
                out.append((s.name, None, False, detail))
            elif reason is None:
                out.append((s.name, pid, True, 'answers'))
            else:
                out.append(
                    (s.name, pid, False, '%s (log: %s)' % (reason, log))
                )
        return out
