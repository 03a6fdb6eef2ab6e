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
"""Small fakes of the openstacksdk compute proxy and the OSC app for plugin
tests.

Every proxy method call is recorded in ``FakeCompute.calls`` (one entry per
HTTP request the real proxy would make), so tests can count API calls.
"""

import io
import types

from openstack import exceptions as sdk_exc


class Obj(types.SimpleNamespace):
    """An SDK-like resource: attributes, plus ``get`` for dict-style access."""

    def get(self, key, default=None):
        return getattr(self, key, default)


def server(
    sid='s-1',
    name='vm1',
    host='compute1',
    status='ACTIVE',
    task_state=None,
    metadata=None,
):
    return Obj(
        id=sid,
        name=name,
        compute_host=host,
        status=status,
        task_state=task_state,
        metadata=dict(metadata or {}),
    )


def migration(
    mid=1,
    uuid='11111111-1111-1111-1111-111111111111',
    server_id='s-1',
    status='running',
    mtype='live-migration',
    source='compute1',
    dest='compute2',
    **extra,
):
    fields = dict(
        id=mid,
        uuid=uuid,
        server_id=server_id,
        server_uuid=server_id,
        status=status,
        migration_type=mtype,
        source_compute=source,
        dest_compute=dest,
        source_node=source,
        dest_node=dest,
        dest_host=None,
        old_flavor_id=1,
        new_flavor_id=1,
        project_id=None,
        user_id=None,
        created_at='2025-01-01T00:00:00',
        updated_at=None,
        memory_total_bytes=None,
        memory_processed_bytes=None,
        memory_remaining_bytes=None,
        disk_total_bytes=None,
        disk_processed_bytes=None,
        disk_remaining_bytes=None,
    )
    fields.update(extra)
    return Obj(**fields)


class EndpointData:
    def __init__(self, max_version):
        self.min_microversion = (2, 1)
        self.max_microversion = tuple(int(x) for x in max_version.split('.'))


class FakeCompute:
    """A compute proxy with servers, migrations and services in memory.

    :param version: the microversion the user asked for
    (``default_microversion``).
    :param cloud_max: the highest microversion the fake cloud offers.
    ``tick`` (callable) runs on every ``get_server`` so a test can script how
    a migration progresses from one refresh to the next.
    """

    def __init__(self, version='2.95', cloud_max='2.95'):
        self.default_microversion = version
        self._endpoint = EndpointData(cloud_max)
        self.servers_by_id = {}
        self.records = []  # /os-migrations
        # (server_id, migration id) -> in-flight server migration
        self.live = {}
        self.services_list = []
        self.actions = {}  # server_id -> [action objects with events]
        self.calls = []
        self.rows = 0  # migration records nova sent back in listings
        self.tick = None
        self.on_live_migrate = (
            None  # callable(server_id): nova creates the record
        )
        self.errors = {}  # method name -> exception to raise once

    # -- plumbing
    def _call(self, name, *args):
        self.calls.append((name,) + args)
        exc = self.errors.pop(name, None)
        if exc is not None:
            raise exc

    def get_endpoint_data(self):
        return self._endpoint

    def add_server(self, srv):
        self.servers_by_id[srv.id] = srv
        return srv

    # -- servers
    def find_server(self, name_or_id, ignore_missing=True):
        self._call('find_server', name_or_id)
        for s in self.servers_by_id.values():
            if name_or_id in (s.id, s.name):
                return s
        if ignore_missing:
            return None
        raise sdk_exc.ResourceNotFound('No Server found for %s' % name_or_id)

    def get_server(self, server_id):
        self._call('get_server', server_id)
        if self.tick:
            self.tick(self)
        try:
            return self.servers_by_id[server_id]
        except KeyError:
            raise sdk_exc.ResourceNotFound('server %s' % server_id) from None

    def servers(self, details=True, all_projects=False, **query):
        self._call('servers', query)
        host = query.get('compute_host')
        return iter(
            [
                s
                for s in self.servers_by_id.values()
                if host is None or s.compute_host == host
            ]
        )

    def set_server_metadata(self, server, **metadata):
        sid = getattr(server, 'id', server)
        self._call('set_server_metadata', sid, metadata)
        self.servers_by_id[sid].metadata.update(metadata)

    def live_migrate_server(self, server, **kwargs):
        sid = getattr(server, 'id', server)
        self._call('live_migrate_server', sid, kwargs)
        if self.on_live_migrate:
            self.on_live_migrate(sid)

    def migrate_server(self, server, **kwargs):
        self._call('migrate_server', getattr(server, 'id', server), kwargs)

    # -- migrations
    def migrations(self, **query):
        self._call('migrations', query)
        out = []
        for m in self.records:
            if (
                'instance_uuid' in query
                and m.server_id != query['instance_uuid']
            ):
                continue
            if 'host' in query and query['host'] not in (
                m.source_compute,
                m.dest_compute,
            ):
                continue
            if (
                'migration_type' in query
                and m.migration_type != query['migration_type']
            ):
                continue
            if 'status' in query and m.status != query['status']:
                continue
            out.append(m)
        if 'limit' in query:  # nova from 2.59: newest first, then the limit
            out = sorted(out, key=lambda m: m.id, reverse=True)
            out = out[: query['limit']]
        self.rows += len(out)
        return iter(out)

    def server_migrations(self, server_id):
        self._call('server_migrations', server_id)
        return iter(
            [m for (sid, _), m in self.live.items() if sid == server_id]
        )

    def get_server_migration(self, mid, server_id, ignore_missing=True):
        self._call('get_server_migration', mid, server_id)
        m = self.live.get((server_id, int(mid)))
        if m is None:  # like nova + openstacksdk: 404 even with ignore_missing
            raise sdk_exc.ResourceNotFound('migration %s' % mid)
        return m

    def abort_server_migration(self, mid, server_id, ignore_missing=True):
        self._call('abort_server_migration', mid, server_id)
        if (server_id, int(mid)) not in self.live and not ignore_missing:
            raise sdk_exc.ResourceNotFound('migration %s' % mid)

    def force_complete_server_migration(self, mid, server_id):
        self._call('force_complete_server_migration', mid, server_id)
        if (server_id, int(mid)) not in self.live:
            raise sdk_exc.ResourceNotFound('migration %s' % mid)

    # -- events
    def server_actions(self, server_id):
        self._call('server_actions', server_id)
        return iter(self.actions.get(server_id, []))

    def get_server_action(self, request_id, server_id):
        self._call('get_server_action', request_id, server_id)
        for a in self.actions.get(server_id, []):
            if a.request_id == request_id:
                return a
        raise sdk_exc.ResourceNotFound(request_id)

    # -- services
    def services(self, **query):
        self._call('services', query)
        return iter(
            [
                s
                for s in self.services_list
                if all(getattr(s, k) == v for k, v in query.items())
            ]
        )

    def disable_service(
        self, service, host=None, binary=None, disabled_reason=None
    ):
        self._call('disable_service', host, binary, disabled_reason)
        service.status = 'disabled'
        service.disabled_reason = disabled_reason
        return service

    def count(self, name):
        return sum(1 for c in self.calls if c[0] == name)


class TTYStringIO(io.StringIO):
    def isatty(self):
        return True


class FakeApp:
    """Enough of the OSC app for commands: stdout, stderr, client_manager."""

    def __init__(self, compute, tty=False):
        self.stdout = TTYStringIO() if tty else io.StringIO()
        self.stderr = io.StringIO()
        self.client_manager = types.SimpleNamespace(compute=compute)
        self.options = types.SimpleNamespace(debug=False)


class FakeClock:
    """A clock that only moves when the command sleeps."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def http_error(code, message='boom'):
    return sdk_exc.HttpException(
        message=message, details=message, http_status=code
    )
