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
"""The mini-cloud's long-running services, as one table.

Each row says how the service starts (argv, environment, working folder),
in which step of ``up`` it starts, how it is probed, on which port it
listens and in which stage ``down`` stops it. ``up``, ``status`` and
``down`` all read :func:`table`; nothing else lists the services.

    [s.name for s in table(layout) if s.stops == 'bus']
    # -> ['epmd', 'rabbitmq']
"""

import dataclasses
import functools
import os
import typing

from testbed.cloud import computes
from testbed.cloud import startup

#: The steps of ``up`` that start services, in order; setup steps run
#: between them (see :meth:`testbed.cloud.cloud.Cloud.up`). The broker is
#: started without waiting: the schemas are built while it boots.
START_STEPS = ('backing', 'broker', 'identity', 'apis', 'nova', 'computes')

#: The order ``down`` stops them, and the seconds each stage has to stop
#: before SIGKILL. nova first: nova-compute may take minutes to stop
#: gracefully, and no guest needs it to (see graceful_shutdown_timeout in
#: render.py); then the APIs, then the message bus, then the database
#: everybody wrote to. Anything else still recorded goes last, with
#: LEFTOVER_TIMEOUT.
STOP_STAGES = (('nova', 10), ('apis', 20), ('bus', 30), ('database', 60))
LEFTOVER_TIMEOUT = 20

#: Which venv serves which WSGI API.
API_VENV = {
    'keystone': 'main',
    'placement': 'main',
    'glance': 'glance',
    'neutron': 'neutron',
    'nova-api': 'main',
}


@dataclasses.dataclass(frozen=True)
class Launch:
    """How to start one process: its environment adds to the tool's own."""

    argv: list
    env: dict = None
    cwd: str = None


@dataclasses.dataclass(frozen=True)
class Service:
    """One row of the table.

    ``launch(layout, pair)`` returns its :class:`Launch` when it starts (a
    libvirt-mode compute needs its host running by then); ``probe(probes)``
    takes a :class:`testbed.cloud.probes.Probes` and returns None once the
    service answers; ``status`` is the probe ``status`` uses when it asks
    more than ``up`` waits for.
    """

    name: str
    starts: str
    stops: str
    launch: typing.Callable
    probe: typing.Callable
    timeout: int  # seconds it may take to answer after its start
    port: str = None  # key of Layout.ports it listens on, if any
    status: typing.Callable = None

    @property
    def status_probe(self):
        return self.status or self.probe


def compute_name(host):
    return 'nova-compute-%s' % host


def override_path(layout, what):
    """Extra config file of keystone or of both computes (see
    ``Cloud.reconfigure``); read after the rendered files when it exists.
    """
    if what == 'keystone':
        return layout.path('etc', 'keystone', 'override.conf')
    return layout.path('etc', 'nova', 'compute-override.conf')


def nova_conf_args(layout, db=True):
    """nova's config files; computes never see the database options."""
    etc = layout.path('etc', 'nova')
    args = ['--config-file', etc + '/nova.conf']
    if db:
        args += ['--config-file', etc + '/nova-db.conf']
    return args


def table(layout):
    """Every service of the cloud ``layout`` describes, in start order."""
    rabbit_env = startup.rabbitmq_env(layout)
    rows = [
        Service(
            'epmd',
            'backing',
            'bus',
            # our own epmd in the foreground, so RabbitMQ does not
            # daemonize one
            lambda lo, pair: Launch(startup.epmd_argv(lo), env=rabbit_env),
            lambda p: p.tcp('epmd'),
            timeout=20,
            port='epmd',
        ),
        Service(
            'mariadb',
            'backing',
            'database',
            lambda lo, pair: Launch(startup.mariadb_argv(lo)),
            lambda p: p.mysql('mariadb'),
            timeout=60,
            port='mariadb',
        ),
        Service(
            'rabbitmq',
            'broker',
            'bus',
            lambda lo, pair: Launch(
                ['/usr/lib/rabbitmq/bin/rabbitmq-server'],
                env=rabbit_env,
                cwd=lo.path('state', 'rabbitmq'),
            ),
            lambda p: p.amqp('rabbitmq'),
            timeout=120,
            port='rabbitmq',
        ),
    ]
    for name, venv in API_VENV.items():
        rows.append(
            Service(
                name,
                'identity' if name == 'keystone' else 'apis',
                'nova' if name.startswith('nova-') else 'apis',
                functools.partial(_api, name, venv),
                functools.partial(_probe_http, name),
                timeout=120,
                port=name,
            )
        )
    for name in ('nova-conductor', 'nova-scheduler'):
        rows.append(
            Service(
                name,
                'nova',
                'nova',
                functools.partial(_nova_daemon, name),
                functools.partial(_probe_nova, name, None),
                timeout=120,
            )
        )
    for host in layout.compute_hosts:
        rows.append(
            Service(
                compute_name(host),
                'computes',
                'nova',
                functools.partial(_compute, host),
                functools.partial(_probe_nova, 'nova-compute', host),
                # a cold libvirt compute probes QEMU and registers in
                # placement
                timeout=240 if layout.mode == 'libvirt' else 180,
                status=functools.partial(_probe_hypervisor, host),
            )
        )
    return tuple(rows)


def names(layout):
    """The service names, in start order (the order ``status`` lists)."""
    return [s.name for s in table(layout)]


def _probe_http(service, p):
    return p.http(service)


def _probe_nova(binary, host, p):
    return p.nova_service(binary, host)


def _probe_hypervisor(host, p):
    return p.hypervisor(host)


def _api(service, venv, lo, pair):
    env = None
    override = override_path(lo, 'keystone')
    if service == 'keystone' and os.path.exists(override):
        files = startup.wsgi_env(lo)['OS_KEYSTONE_CONFIG_FILES']
        env = {'OS_KEYSTONE_CONFIG_FILES': '%s;%s' % (files, override)}
    return Launch(startup.gunicorn_argv(lo, service, venv), env=env)


def _nova_daemon(name, lo, pair):
    return Launch(
        [lo.venv_bin('main', name)]
        + nova_conf_args(lo)
        + ['--log-file', lo.log(name)]
    )


def _compute(host, lo, pair):
    name = compute_name(host)
    override = override_path(lo, 'compute')
    extra = [override] if os.path.exists(override) else []
    if pair is not None:
        return Launch(
            computes.compute_argv(lo, pair, host, lo.log(name), extra)
        )
    return Launch(
        [lo.venv_bin('main', 'nova-compute')]
        + nova_conf_args(lo, db=False)
        + ['--config-file', computes.conf_path(lo, host)]
        + [a for f in extra for a in ('--config-file', f)]
        + ['--log-file', lo.log(name)]
    )
