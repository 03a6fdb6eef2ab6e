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
"""The shared wait: when a migration is over, the verdict, the output."""

import io
import unittest

from osc_livemigrate.follow import output
from osc_livemigrate.follow import progress
from osc_livemigrate.follow import waiting
from tests.unit.osc_livemigrate import fakes

UUID = '11111111-1111-1111-1111-111111111111'


class TestFinished(unittest.TestCase):
    def test_busy_server_is_never_finished(self):
        for status, task in (('MIGRATING', None), ('ACTIVE', 'migrating')):
            srv = fakes.server(status=status, task_state=task)
            self.assertTrue(waiting.busy(srv))
            self.assertFalse(waiting.finished(srv, None))

    def test_idle_server_waits_for_its_record(self):
        srv = fakes.server()
        self.assertFalse(
            waiting.finished(srv, fakes.migration(status='running'))
        )
        self.assertTrue(
            waiting.finished(srv, fakes.migration(status='completed'))
        )
        self.assertTrue(waiting.finished(srv, None))


class TestVerdict(unittest.TestCase):
    def test_completed_elsewhere_is_ok(self):
        outcome = waiting.verdict(
            'compute1',
            fakes.server(host='compute2'),
            fakes.migration(status='completed'),
        )
        self.assertEqual(
            (True, 'completed', 'compute2'),
            (outcome.ok, outcome.status, outcome.host),
        )

    def test_another_policy_ran_is_a_refusal(self):
        srv = fakes.server(
            host='compute2',
            metadata={
                'livemigrate:migration': UUID,
                'livemigrate:policy_used': 'nova',
            },
        )
        record = fakes.migration(status='completed')
        self.assertTrue(waiting.verdict('compute1', srv, record, 'nova').ok)
        outcome = waiting.verdict('compute1', srv, record, 'turbo')
        self.assertFalse(outcome.ok)
        self.assertIn(
            'the driver ran policy nova instead of turbo', outcome.reason
        )

    def test_judge_reads_events_only_for_a_failure(self):
        compute = fakes.FakeCompute()
        compute.actions['s-1'] = [
            fakes.Obj(
                action='live-migration',
                request_id='r',
                start_time='1',
                events=[{'event': 'e', 'result': 'Error', 'details': 'why'}],
            )
        ]
        ok = waiting.judge(
            compute,
            's-1',
            'compute1',
            fakes.server(host='compute2'),
            fakes.migration(status='completed'),
        )
        self.assertTrue(ok.ok)
        self.assertEqual([], compute.calls)
        failed = waiting.judge(
            compute,
            's-1',
            'compute1',
            fakes.server(),
            fakes.migration(status='error'),
        )
        self.assertIn('event e: why', failed.reason)
        self.assertEqual(2, len(compute.calls))


class TestOutput(unittest.TestCase):
    def test_isatty_of_streams_that_cannot_say(self):
        closed = io.StringIO()
        closed.close()
        for stream in (object(), closed, io.StringIO()):
            self.assertFalse(output.isatty(stream))
        self.assertTrue(output.isatty(fakes.TTYStringIO()))

    def test_json_unless_a_terminal_and_auto(self):
        self.assertTrue(output.Output(io.StringIO()).json)
        self.assertFalse(output.Output(fakes.TTYStringIO()).json)
        self.assertTrue(output.Output(fakes.TTYStringIO(), 'json').json)

    def test_line_after_a_bar_starts_a_new_line(self):
        out = output.Output(fakes.TTYStringIO())
        out.update(progress.Update(server='vm1', status='running'))
        out.line('done')
        self.assertTrue(out.stream.getvalue().endswith('\x1b[K\ndone\n'))

    def test_json_line_carries_kind_and_fields(self):
        out = output.Output(io.StringIO())
        out.line('gone', kind='detached', server='vm1')
        self.assertEqual(
            '{"message": "gone", "server": "vm1", "type": "detached"}\n',
            out.stream.getvalue(),
        )


class TestPublishedRefusal(unittest.TestCase):
    KEY = 'livemigrate:policy_refused'

    def md(self, value, migration=UUID, **more):
        return dict(
            {'livemigrate:migration': migration, self.KEY: value}, **more
        )

    def test_the_drivers_json(self):
        value = '{"asked": "turbo", "used": "nova", "reason": "not installed"}'
        self.assertEqual(
            {'asked': 'turbo', 'used': 'nova', 'reason': 'not installed'},
            waiting.published_refusal(self.md(value), UUID),
        )

    def test_none_empty_or_another_migrations(self):
        for md in ({}, self.md(''), self.md('{"asked": "x"}', 'older')):
            self.assertIsNone(waiting.published_refusal(md, UUID), md)
        self.assertIsNone(waiting.published_refusal(self.md('x'), None))

    def test_a_value_that_is_not_json_is_still_told(self):
        md = self.md('turbo refused', **{'livemigrate:policy_used': 'nova'})
        self.assertEqual(
            {'asked': '?', 'used': 'nova', 'reason': 'turbo refused'},
            waiting.published_refusal(md, UUID),
        )

    def test_told_once_and_settled_once_the_driver_named_the_migration(self):
        notices = waiting.RefusalNotices()
        self.assertIsNone(notices.new(UUID, {}))
        self.assertTrue(notices.pending(UUID))
        value = '{"asked": "turbo", "used": "nova", "reason": "why"}'
        self.assertEqual('turbo', notices.new(UUID, self.md(value))['asked'])
        self.assertFalse(notices.pending(UUID))
        self.assertIsNone(notices.new(UUID, self.md(value)))

    def test_settled_when_bytes_flow_without_the_driver(self):
        notices = waiting.RefusalNotices()
        self.assertIsNone(notices.new(UUID, {}, flowing=True))
        self.assertFalse(notices.pending(UUID))
