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
import socket
import threading

from testbed.cloud import probes


def _serve_once(payload=None):
    """A loopback TCP server; sends payload to each client if given. Returns
    port.
    """
    srv = socket.socket()
    srv.bind(('127.0.0.1', 0))
    srv.listen(4)

    def loop():
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            with conn:
                if payload is not None:
                    try:
                        conn.recv(16) if payload.startswith(b'\x01') else None
                        conn.sendall(payload)
                    except OSError:
                        pass

    threading.Thread(target=loop, daemon=True).start()
    return srv, srv.getsockname()[1]


def _free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_probe_mysql_accepts_greeting_and_host_refusal():
    greeting = b'\x4a\x00\x00\x00\x0a' + b'10.11.0-MariaDB\x00'
    refusal = (
        b'\x2f\x00\x00\x00\xff\x6a\x04' + b"Host '127.0.0.1' is not allowed"
    )
    for payload in (greeting, refusal):
        srv, port = _serve_once(payload)
        try:
            assert probes.probe_mysql('127.0.0.1', port) is None
        finally:
            srv.close()
    srv, port = _serve_once(b'HTTP/1.0 200 OK\r\n\r\n')
    try:
        assert 'no MySQL greeting' in probes.probe_mysql('127.0.0.1', port)
    finally:
        srv.close()
    assert 'nothing answers' in probes.probe_mysql('127.0.0.1', _free_port())


def test_probe_amqp():
    srv, port = _serve_once(b'\x01\x00\x00\x00\x00\x01\x00\x00\x0a')
    try:
        assert probes.probe_amqp('127.0.0.1', port) is None
    finally:
        srv.close()
    assert 'nothing answers' in probes.probe_amqp('127.0.0.1', _free_port())


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
        'http://127.0.0.1:%d/' % _free_port()
    )
