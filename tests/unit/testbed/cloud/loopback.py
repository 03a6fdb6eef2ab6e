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
"""Loopback servers and ports for the probe and process tests."""

import socket
import threading


def serve_once(payload=None):
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


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port
