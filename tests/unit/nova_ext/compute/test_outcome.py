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
"""nova's outcome lines, read from the installed nova, are the ones we log.

Operators alert on these lines: the words and the level are checked
against nova's own ``_live_migration_monitor``, not against a copy.
"""

import inspect
import json
import logging
import re
import types
import unittest

from nova.virt.libvirt import driver as nova_driver
import oslo_messaging

from nova_ext.compute import bus
from nova_ext.compute import monitor
from nova_ext.compute import outcome
from nova_ext.compute import publisher
from nova_ext.core import contract
from tests import fakes
from tests.unit.nova_ext.compute.stores import Recorder
from tests.unit.nova_ext.compute.stores import WRITES

#: the libvirt job type each branch of nova's monitor handles
NOVA_BRANCH = re.compile(
    r'info\.type == libvirt\.(VIR_DOMAIN_JOB_\w+):(?:(?!info\.type).)*?'
    r'LOG\.(\w+)\(\s*"(Migration operation [^"]+)"',
    re.S,
)
JOB = {
    'VIR_DOMAIN_JOB_COMPLETED': monitor.JOB_COMPLETED,
    'VIR_DOMAIN_JOB_FAILED': monitor.JOB_FAILED,
    'VIR_DOMAIN_JOB_CANCELLED': monitor.JOB_CANCELLED,
}


def novas_lines():
    """{job type: (level, words)} as nova's monitor logs them."""
    source = inspect.getsource(
        nova_driver.LibvirtDriver._live_migration_monitor
    )
    return {
        JOB[job]: (logging.getLevelName(method.upper()), words)
        for job, method, words in NOVA_BRANCH.findall(source)
    }


class TestNovasWords(unittest.TestCase):
    def test_every_outcome_has_novas_words_and_level(self):
        nova = novas_lines()
        self.assertEqual(3, len(nova), nova)
        self.assertEqual(nova, outcome.NOVA_LINES)

    def test_the_line_goes_through_novas_logger(self):
        with self.assertLogs('nova.virt.libvirt.driver', 'INFO') as logs:
            outcome.log_outcome(
                monitor.JOB_CANCELLED,
                'nova',
                ('abort', 'abort requested through the API'),
                734003200,
                None,
                instance=None,
            )
        (record,) = logs.records
        self.assertEqual(logging.WARNING, record.levelno)
        self.assertEqual(
            'Migration operation was cancelled: policy nova, last action '
            'abort (abort requested through the API), 734003200 bytes '
            'moved, measured downtime none',
            record.getMessage(),
        )

    def test_completed_with_measured_downtime(self):
        with self.assertLogs('nova.virt.libvirt.driver', 'INFO') as logs:
            outcome.log_outcome(
                monitor.JOB_COMPLETED, 'adaptive', (None, None), 5, 42
            )
        (record,) = logs.records
        self.assertEqual(logging.INFO, record.levelno)
        self.assertTrue(
            record.getMessage().startswith(
                'Migration operation has completed: policy adaptive, last '
                'action none, 5 bytes moved, measured downtime 42 ms'
            ),
            record.getMessage(),
        )

    def test_measured_downtime_only_when_libvirt_kept_it(self):
        def guest(stats):
            return types.SimpleNamespace(
                _domain=types.SimpleNamespace(jobStats=stats)
            )

        self.assertEqual(
            35, outcome.measured_downtime_ms(guest(lambda f: {'downtime': 35}))
        )
        self.assertIsNone(outcome.measured_downtime_ms(guest(lambda f: {})))

        def gone(flags):
            raise RuntimeError('Domain not found')

        self.assertIsNone(outcome.measured_downtime_ms(guest(gone)))


class TestFinalFigures(unittest.TestCase):
    def test_the_value_fits_novas_metadata_limit_whatever_the_policy(self):
        ended = monitor.Outcome(
            job='failed',
            memory_bytes=10**13,
            disk_bytes=10**13,
            elapsed_s=99999.94,
        )
        value = outcome.final_value(
            '11111111-2222-3333-4444-555555555555',
            ended,
            'p' * 300,
            'postcopy-resumed',
            99999,
        )
        self.assertLessEqual(len(value), 255)
        fields = json.loads(value)
        self.assertEqual(list(contract.LAST_FIELDS), list(fields))
        self.assertEqual(
            ('error', 99999.9, 10**13),
            (fields['outcome'], fields['duration_s'], fields['disk_bytes']),
        )


class TestReport(unittest.TestCase):
    def test_the_ended_jobs_totals_count_the_last_bytes(self):
        class Store:
            keys = []

            def metadata(self, keys):
                self.keys.append(keys)

        ended = monitor.Outcome(
            job='completed', job_type=monitor.JOB_COMPLETED, memory_bytes=90
        )
        guest = types.SimpleNamespace(
            _domain=types.SimpleNamespace(
                jobStats=lambda flags: {
                    'memory_processed': 100,
                    'disk_processed': 7,
                    'downtime': 12,
                }
            )
        )
        store = Store()
        pub = publisher.Publisher(store, 'm-1', 'nova')
        with self.assertLogs('nova.virt.libvirt.driver', 'INFO'):
            outcome.report(ended, pub, 'completed', guest)
        fields = json.loads(store.keys[-1][contract.LAST_KEY])
        self.assertEqual(
            (100, 7, 12),
            (
                fields['memory_bytes'],
                fields['disk_bytes'],
                fields['downtime_ms'],
            ),
        )


def _guest(stats):
    return types.SimpleNamespace(
        _domain=types.SimpleNamespace(jobStats=lambda flags: stats)
    )


class TestAStoreFailingEveryWrite(unittest.TestCase):
    """The outcome writes through the publisher, whose guard only warns."""

    def test_the_end_is_logged_as_nova_logs_it(self):
        ended = monitor.Outcome(
            job='completed', job_type=monitor.JOB_COMPLETED, memory_bytes=90
        )
        store = Recorder(broken=WRITES)
        pub = publisher.Publisher(store, 'm-1', 'nova')
        with (
            self.assertLogs('nova_ext.compute.publisher', 'WARNING') as warn,
            self.assertLogs('nova.virt.libvirt.driver', 'INFO') as nova,
        ):
            outcome.report(ended, pub, 'completed', _guest({'downtime': 3}))
        self.assertEqual({'metadata': 1}, dict(store.attempts))
        self.assertIn('db down', warn.output[0])
        self.assertIn('Migration operation has completed', nova.output[0])

    def test_the_destinations_downtime_only_warns(self):
        store = Recorder(broken=WRITES)
        pub = publisher.Publisher(store, None, None)
        with self.assertLogs('nova_ext.compute.publisher', 'WARNING') as logs:
            outcome.publish_measured_downtime(
                lambda: _guest({'downtime': 187}), pub
            )
        self.assertEqual({'metadata': 1}, dict(store.attempts))
        self.assertIn('measured downtime: db down', logs.output[0])


class BusDownOnce(Recorder):
    """A store whose first metadata write is lost to the message bus."""

    def metadata(self, keys):
        if not self.attempts['metadata']:
            self.attempts['metadata'] += 1
            raise oslo_messaging.MessagingTimeout('first write lost')
        super().metadata(keys)


class TestAFinalStatusWrittenAgain(unittest.TestCase):
    """A final status lost to the bus is written again; the job ended once,
    so nova's line is logged once.
    """

    def test_novas_line_is_logged_once(self):
        ended = monitor.Outcome(
            job='completed', job_type=monitor.JOB_COMPLETED, memory_bytes=90
        )
        store = BusDownOnce()
        pub = publisher.Publisher(store, 'm-1', 'nova')
        clock = fakes.FakeClock()
        steps = bus.PostSteps(lambda: None, 600, clock, clock.sleep)
        ending = outcome.Ending(
            ended, pub, 'completed', _guest({'downtime': 3})
        )
        with self.assertLogs('nova.virt.libvirt.driver', 'INFO') as nova:
            steps.complete(ending.publish, lambda: None, pub)
        self.assertEqual(2, store.attempts['metadata'])
        self.assertEqual(
            [
                'INFO:nova.virt.libvirt.driver:Migration operation has '
                'completed: policy nova, last action none, 0 bytes moved, '
                'measured downtime 3 ms'
            ],
            nova.output,
        )
        self.assertEqual(
            3, json.loads(store.keys[-1][contract.LAST_KEY])['downtime_ms']
        )
