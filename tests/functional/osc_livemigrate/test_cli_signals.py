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
"""``openstack server migrate --wait --on-interrupt`` as a real process,
started the way a script's background job is: with SIGINT ignored.

The real ``openstack`` entry point talks to a small in-process HTTP stand-in
of keystone and nova (this file): one server whose live migration runs
until it is aborted. No mini-cloud, no root; a second or two per test,
most of it the CLI's start-up. What it proves that the unit tests cannot:
the signal reaches the wait of a real process whose parent ignored SIGINT,
the chosen action reaches nova over HTTP, and the exit code says so.
"""

import http.server
import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import threading

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
SERVER_ID = '5e1f0b7e-0000-4000-8000-000000000001'
MIGRATION_UUID = '5e1f0b7e-0000-4000-8000-00000000a001'
TOKEN = 'tok-signals'


class FakeCloud:
    """keystone v3 and nova 2.95, just enough for one live migration that
    runs until someone aborts it. ``requests`` lists ``(method, path)``.
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.requests = []
        self.migration = None
        self.httpd = http.server.ThreadingHTTPServer(
            ('127.0.0.1', 0), _handler(self)
        )
        self.url = 'http://127.0.0.1:%d' % self.httpd.server_address[1]
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, daemon=True
        )

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    def aborted(self):
        with self.lock:
            return any(m == 'DELETE' for m, _ in self.requests)

    def env(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith('OS_')}
        env.update(
            OS_AUTH_URL=self.url + '/identity/v3',
            OS_AUTH_TYPE='password',
            OS_IDENTITY_API_VERSION='3',
            OS_USERNAME='admin',
            OS_PASSWORD='secret',
            OS_PROJECT_NAME='admin',
            OS_USER_DOMAIN_NAME='Default',
            OS_PROJECT_DOMAIN_NAME='Default',
            OS_COMPUTE_API_VERSION='2.95',
            OS_REGION_NAME='RegionOne',
            PYTHONPATH=str(ROOT),
            PYTHONWARNINGS='ignore',
        )
        return env

    # ------------------------------------------------------------ nova
    def _server(self):
        running = self.migration and self.migration['status'] == 'running'
        return {
            'id': SERVER_ID,
            'name': 'vm1',
            'status': 'MIGRATING' if running else 'ACTIVE',
            'OS-EXT-STS:task_state': 'migrating' if running else None,
            'OS-EXT-STS:vm_state': 'active',
            'OS-EXT-SRV-ATTR:host': 'compute1',
            'tenant_id': 'p-1',
            'user_id': 'u-1',
            'metadata': {},
            'links': [],
        }

    def answer(self, method, path, query, body):
        """:returns: ``(status, JSON document or None, headers)``."""
        with self.lock:
            self.requests.append((method, path))
        if path.startswith('/identity'):
            return self._identity(method, path)
        compute = '/compute/v2.1'
        if path.rstrip('/') in ('/compute', compute):
            return 200, {'version': _version(self.url + compute + '/')}, {}
        path = path[len(compute) :]
        server = '/servers/' + SERVER_ID
        with self.lock:
            if path in ('/servers/detail', '/servers'):
                match = query.get('name', ['vm1'])[0] in ('vm1', '^vm1$')
                return 200, {'servers': [self._server()] if match else []}, {}
            if path == server:
                return 200, {'server': self._server()}, {}
            if path == server + '/action' and 'os-migrateLive' in body:
                self.migration = _migration()
                return 202, None, {}
            if path == '/os-migrations':
                found = [self.migration] if self.migration else []
                return 200, {'migrations': found}, {}
            if path == server + '/migrations':
                running = self.migration and (
                    self.migration['status'] == 'running'
                )
                return 200, {'migrations': [self.migration] * running}, {}
            if path == server + '/migrations/1':
                if method == 'DELETE':
                    self.migration['status'] = 'cancelled'
                    return 202, None, {}
                if self.migration['status'] == 'running':
                    return 200, {'migration': self.migration}, {}
            if path == server + '/os-instance-actions':
                return 200, {'instanceActions': []}, {}
        return 404, {'itemNotFound': {'code': 404, 'message': path}}, {}

    def _identity(self, method, path):
        v3 = self.url + '/identity/v3'
        if method == 'POST' and path.endswith('/auth/tokens'):
            return 201, _token(self.url), {'X-Subject-Token': TOKEN}
        return (
            200,
            {
                'version': {
                    'id': 'v3.14',
                    'status': 'stable',
                    'links': [{'rel': 'self', 'href': v3 + '/'}],
                    'media-types': [],
                }
            },
            {},
        )


def _version(href):
    return {
        'id': 'v2.1',
        'status': 'CURRENT',
        'version': '2.95',
        'min_version': '2.1',
        'links': [{'rel': 'self', 'href': href}],
    }


def _migration():
    return {
        'id': 1,
        'uuid': MIGRATION_UUID,
        'server_uuid': SERVER_ID,
        'instance_uuid': SERVER_ID,
        'status': 'running',
        'migration_type': 'live-migration',
        'source_compute': 'compute1',
        'dest_compute': 'compute2',
        'source_node': 'compute1',
        'dest_node': 'compute2',
        'dest_host': None,
        'old_instance_type_id': 1,
        'new_instance_type_id': 1,
        'project_id': 'p-1',
        'user_id': 'u-1',
        'created_at': '2026-01-01T00:00:00.000000',
        'updated_at': None,
        'memory_total_bytes': 1000,
        'memory_processed_bytes': 100,
        'memory_remaining_bytes': 900,
        'disk_total_bytes': 0,
        'disk_processed_bytes': 0,
        'disk_remaining_bytes': 0,
        'links': [],
    }


def _token(url):
    endpoints = [
        {
            'id': 'e-%s' % interface,
            'interface': interface,
            'region': 'RegionOne',
            'region_id': 'RegionOne',
            'url': url + path,
        }
        for interface in ('public', 'internal', 'admin')
        for path in ['/compute/v2.1']
    ]
    return {
        'token': {
            'methods': ['password'],
            'expires_at': '2099-01-01T00:00:00.000000Z',
            'issued_at': '2026-01-01T00:00:00.000000Z',
            'user': {
                'id': 'u-1',
                'name': 'admin',
                'domain': {'id': 'default', 'name': 'Default'},
            },
            'project': {
                'id': 'p-1',
                'name': 'admin',
                'domain': {'id': 'default', 'name': 'Default'},
            },
            'roles': [{'id': 'r-1', 'name': 'admin'}],
            'catalog': [
                {
                    'id': 's-compute',
                    'type': 'compute',
                    'name': 'nova',
                    'endpoints': endpoints,
                },
                {
                    'id': 's-identity',
                    'type': 'identity',
                    'name': 'keystone',
                    'endpoints': [
                        dict(e, url=url + '/identity/v3') for e in endpoints
                    ],
                },
            ],
        }
    }


def _handler(cloud):
    from urllib import parse

    class Handler(http.server.BaseHTTPRequestHandler):
        def _serve(self):
            url = parse.urlsplit(self.path)
            length = int(self.headers.get('Content-Length') or 0)
            raw = self.rfile.read(length) if length else b''
            body = json.loads(raw) if raw else {}
            status, doc, headers = cloud.answer(
                self.command, url.path, parse.parse_qs(url.query), body
            )
            data = json.dumps(doc).encode() if doc is not None else b''
            self.send_response(status)
            self.send_header('Content-Type', 'application/json')
            self.send_header('Content-Length', str(len(data)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, *args):
            pass

    return Handler


def _openstack():
    here = pathlib.Path(sys.executable).parent / 'openstack'
    return str(here) if here.exists() else 'openstack'


@pytest.fixture
def fake_cloud():
    with FakeCloud() as c:
        yield c


def _popen(cloud, on_interrupt):
    return subprocess.Popen(
        [
            _openstack(),
            'server',
            'migrate',
            '--live-migration',
            '--wait',
            '--on-interrupt',
            on_interrupt,
            '--poll-interval',
            '0.2',
            'vm1',
        ],
        env=cloud.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def _start_and_signal(cloud, signum, on_interrupt):
    """Start the CLI with SIGINT ignored, wait for its first progress line
    of the running migration, send ``signum``.

    :returns: ``(exit code, JSON lines, stderr)``.
    """
    # NOTE: started with SIGINT ignored, as bash starts a background job
    # of a script: the child inherits the ignore through exec
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        p = _popen(cloud, on_interrupt)
    finally:
        signal.signal(signal.SIGINT, previous)
    seen = []
    # NOTE: a CLI that hangs before its first progress line is ended, so
    # that the read below returns
    killer = threading.Timer(60, p.kill)
    killer.start()
    try:
        while True:
            line = p.stdout.readline()
            seen.append(line)
            if not line or '"status": "running"' in line:
                break
        killer.cancel()
        assert line, (
            'the CLI ended (or hung 60 s) before the migration ran: %s'
            % (p.communicate(timeout=30),)
        )
        p.send_signal(signum)
        try:
            out, err = p.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                'the CLI did not end within 30 s of signal %d: it never '
                'saw it' % signum
            ) from None
    finally:
        killer.cancel()
        if p.poll() is None:
            p.kill()
            p.wait()
    lines = [
        json.loads(ln)
        for ln in ''.join(seen).splitlines() + out.splitlines()
        if ln.startswith('{')
    ]
    return p.returncode, lines, err


@pytest.mark.parametrize('signum', [signal.SIGINT, signal.SIGTERM])
def test_abort_on_signal_with_sigint_ignored_at_start(fake_cloud, signum):
    rc, lines, err = _start_and_signal(fake_cloud, signum, 'abort')
    assert rc == 1, (lines, err)
    assert fake_cloud.aborted()
    result = lines[-1]
    assert (result['type'], result['ok'], result['status']) == (
        'result',
        False,
        'cancelled',
    ), result
    assert 'did not complete: migration cancelled' in err, err
    assert 'Traceback' not in err


@pytest.mark.parametrize(
    'signum, code, said',
    [(signal.SIGINT, 130, 'Detached'), (signal.SIGTERM, 143, 'SIGTERM: ')],
)
def test_detach_on_signal_with_sigint_ignored_at_start(
    fake_cloud, signum, code, said
):
    rc, lines, err = _start_and_signal(fake_cloud, signum, 'detach')
    assert rc == code, (lines, err)
    assert not fake_cloud.aborted()
    assert lines[-1]['type'] == 'detached', lines[-1]
    assert re.match(said, lines[-1]['message']), lines[-1]
    assert 'Traceback' not in err


def test_sigterm_with_ask_and_no_terminal_detaches(fake_cloud):
    rc, lines, err = _start_and_signal(fake_cloud, signal.SIGTERM, 'ask')
    assert rc == 143, (lines, err)
    assert not fake_cloud.aborted()
    assert lines[-1]['type'] == 'detached', lines[-1]
