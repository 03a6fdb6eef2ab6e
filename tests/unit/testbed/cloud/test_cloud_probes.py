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
"""The probes of the mini-cloud tool: what counts as an answer.

These open real sockets on loopback; no OpenStack needed.
"""

import http.server
import threading

from testbed.cloud import probes
from tests.unit.testbed.cloud import loopback


def test_probe_mysql_accepts_greeting_and_host_refusal():
    greeting = b'\x4a\x00\x00\x00\x0a' + b'10.11.0-MariaDB\x00'
    refusal = (
        b'\x2f\x00\x00\x00\xff\x6a\x04' + b"Host '127.0.0.1' is not allowed"
    )
    for payload in (greeting, refusal):
        srv, port = loopback.serve_once(payload)
        try:
            assert probes.probe_mysql('127.0.0.1', port) is None
        finally:
            srv.close()
    srv, port = loopback.serve_once(b'HTTP/1.0 200 OK\r\n\r\n')
    try:
        assert 'no MySQL greeting' in probes.probe_mysql('127.0.0.1', port)
    finally:
        srv.close()
    assert 'nothing answers' in probes.probe_mysql(
        '127.0.0.1', loopback.free_port()
    )


def test_probe_amqp():
    srv, port = loopback.serve_once(b'\x01\x00\x00\x00\x00\x01\x00\x00\x0a')
    try:
        assert probes.probe_amqp('127.0.0.1', port) is None
    finally:
        srv.close()
    assert 'nothing answers' in probes.probe_amqp(
        '127.0.0.1', loopback.free_port()
    )


def test_probe_http_counts_any_answer_below_500():
    codes = iter([300, 401, 503])

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(next(codes))
            self.end_headers()

        def log_message(self, *a):
            pass

    srv = http.server.HTTPServer(('127.0.0.1', 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    url = 'http://127.0.0.1:%d/' % srv.server_address[1]
    try:
        assert probes.probe_http(url) is None
        assert probes.probe_http(url) is None
        assert probes.probe_http(url) == 'HTTP 503 from %s' % url
    finally:
        srv.shutdown()
    assert 'no HTTP answer' in probes.probe_http(
        'http://127.0.0.1:%d/' % loopback.free_port()
    )
