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
"""The ``server migrate`` command on a fake cloud, and a migration scripted
through it: what the ``server migrate`` test modules share.
"""

import json
import unittest

from osc_livemigrate.v1 import server_migrate
from tests.unit.osc_livemigrate import fakes

UUID = '11111111-1111-1111-1111-111111111111'
PROG = 'openstack server migrate'


class Base(unittest.TestCase):
    VERSION = '2.95'
    TTY = False

    def setUp(self):
        self.compute = fakes.FakeCompute(self.VERSION)
        self.server = self.compute.add_server(fakes.server())
        self.app = fakes.FakeApp(self.compute, tty=self.TTY)
        self.cmd = server_migrate.MigrateServer(self.app, None)
        self.clock = fakes.FakeClock()
        self.cmd._clock = self.clock
        self.cmd._sleep = self.clock.sleep

    def run_cmd(self, *argv):
        args = self.cmd.get_parser(PROG).parse_args(list(argv))
        return self.cmd.take_action(args)

    def script(
        self,
        final_status='completed',
        final_host='compute2',
        steps=3,
        metadata=None,
    ):
        """The migration appears, runs ``steps`` refreshes, then ends."""
        record = fakes.migration(status='running')
        live = fakes.migration(
            status='running',
            memory_total_bytes=1000,
            memory_processed_bytes=0,
            memory_remaining_bytes=1000,
            disk_total_bytes=0,
            disk_processed_bytes=0,
            disk_remaining_bytes=0,
        )
        state = {'n': 0}

        def start(server_id):
            self.compute.records.append(record)
            self.compute.live[('s-1', 1)] = live
            self.server.status, self.server.task_state = (
                'MIGRATING',
                'migrating',
            )
            self.server.metadata.update(metadata or {})

        self.compute.on_live_migrate = start

        def tick(compute):
            state['n'] += 1
            live.memory_processed_bytes = min(1000, 250 * state['n'])
            live.memory_remaining_bytes = 1000 - live.memory_processed_bytes
            if state['n'] > steps:
                record.status = final_status
                compute.live.clear()
                self.server.status, self.server.task_state = 'ACTIVE', None
                self.server.compute_host = final_host

        self.compute.tick = tick
        return record

    def json_lines(self):
        return [
            json.loads(line)
            for line in self.app.stdout.getvalue().splitlines()
        ]


REFUSAL = {
    'livemigrate:migration': UUID,
    'livemigrate:policy_used': 'nova',
    'livemigrate:action': 'set-downtime',
    'livemigrate:reason': 'first step',
    'livemigrate:policy_refused': json.dumps(
        {
            'asked': 'turbo',
            'used': 'nova',
            'reason': "server metadata asks for policy 'turbo', which is "
            'not installed (installed: nova)',
        }
    ),
}


def driver_events(test, *events):
    """nova's instance action of the migration holds the driver's events,
    ``(name, details)`` each, recorded as failures (as refusals are).
    """
    test.compute.actions['s-1'] = [
        fakes.Obj(
            action='live-migration',
            request_id='r',
            start_time='1',
            events=[
                {'event': name, 'result': 'Error', 'details': details}
                for name, details in events
            ],
        )
    ]


#: the event the driver records with a refusal (nova writes it)
REFUSED_EVENT = (
    'livemigrate_policy-refused',
    "policy 'turbo', which is not installed",
)


def refused_at_tick(test, n, steps=6):
    """The driver publishes its refusal on the ``n``-th refresh only, and
    nova holds its event.
    """
    test.script(steps=steps)
    driver_events(test, REFUSED_EVENT)
    tick = test.compute.tick
    seen = {'n': 0}

    def later(compute):
        seen['n'] += 1
        if seen['n'] == n:
            test.server.metadata.update(REFUSAL)
        tick(compute)

    test.compute.tick = later
