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
"""Riding out an unreachable cloud: keystoneauth's retries per request,
ours per refresh (what keystoneauth's cannot do).
"""

import types
import unittest

from keystoneauth1 import adapter as ksa_adapter
from keystoneauth1 import exceptions as ksa_exc
from keystoneauth1 import session as ksa_session
import requests
import requests_mock

from osc_livemigrate.sdk import errors

URL = 'http://nova.example/v2.1/servers/s-1/migrations'


def _adapter(**kw):
    # NOTE: a fixed, tiny delay: keystoneauth's own grows from 0.5 s
    kw.setdefault('connect_retry_delay', 0.001)
    kw.setdefault('status_code_retry_delay', 0.001)
    return ksa_adapter.Adapter(ksa_session.Session(), **kw)


class TestKeystoneauthRetries(unittest.TestCase):
    def setUp(self):
        self.http = requests_mock.Mocker()
        self.http.start()
        self.addCleanup(self.http.stop)
        self.notices = []
        self.sleeps = []

    def _ride(self, adapter):
        return errors.ride_out_unreachable(
            lambda: adapter.get(URL).json(),
            self.notices.append,
            self.sleeps.append,
            2,
            adapter=adapter,
        )

    def test_a_restarting_api_is_retried_inside_keystoneauth(self):
        self.http.get(
            URL,
            [
                {'status_code': 503, 'json': {}},
                {'status_code': 502, 'json': {}},
                {'status_code': 200, 'json': {'migrations': []}},
            ],
        )
        self.assertEqual({'migrations': []}, self._ride(_adapter()))
        self.assertEqual(3, self.http.call_count)
        # nothing for the wait's own loop to do
        self.assertEqual(([], []), (self.notices, self.sleeps))

    def test_a_reset_connection_is_retried_inside_keystoneauth(self):
        self.http.get(
            URL,
            [
                {'exc': requests.exceptions.ConnectionError('reset')},
                {'status_code': 200, 'json': {'migrations': []}},
            ],
        )
        self.assertEqual({'migrations': []}, self._ride(_adapter()))
        self.assertEqual([], self.notices)

    def test_the_cloud_configuration_wins(self):
        adapter = _adapter(
            connect_retries=0,
            status_code_retries=1,
            retriable_status_codes=[500],
        )
        seen = []

        def refresh():
            seen.append(
                (
                    adapter.connect_retries,
                    adapter.status_code_retries,
                    adapter.retriable_status_codes,
                )
            )

        errors.ride_out_unreachable(refresh, None, None, 1, adapter=adapter)
        self.assertEqual([(0, 1, [500])], seen)

    def test_set_for_the_refresh_only(self):
        adapter = _adapter()
        seen = []
        errors.ride_out_unreachable(
            lambda: seen.append(
                (adapter.connect_retries, adapter.status_code_retries)
            ),
            None,
            None,
            1,
            adapter=adapter,
        )
        self.assertEqual([(errors.REQUEST_RETRIES,) * 2], seen)
        self.assertEqual(
            (None, None, None),
            (
                adapter.connect_retries,
                adapter.status_code_retries,
                adapter.retriable_status_codes,
            ),
        )

    def test_a_longer_outage_is_told_and_paced_by_the_wait(self):
        # keystoneauth's retries are spent; the refresh itself is repeated
        # at the wait's interval, and the user is told
        down = errors.translate_auth_error(
            ksa_exc.ConnectFailure('refused'),
            'refresh',
        )
        calls = []

        def refresh():
            calls.append(1)
            if len(calls) < 3:
                raise down
            return 'fine'

        fake = types.SimpleNamespace(
            connect_retries=None,
            status_code_retries=None,
            retriable_status_codes=None,
        )
        result = errors.ride_out_unreachable(
            refresh, self.notices.append, self.sleeps.append, 2, adapter=fake
        )
        self.assertEqual('fine', result)
        self.assertEqual([2, 2], self.sleeps)
        self.assertEqual(2, len(self.notices))
        self.assertIn('cannot reach the cloud', self.notices[0])
