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
"""The message-bus rule of nova_ext.compute.bus against the real RabbitMQ and
nova-conductor of the mini-cloud (fake mode).

What this cloud showed: a call made while RabbitMQ is down waits in
oslo.messaging's reconnect loop and goes through once the broker is back;
a call whose request reached the broker just before it stopped loses its
reply and times out (``rpc_response_timeout``). That second kind is what
set servers to ERROR after a live migration. A migration's own outage test
(``test_libvirt_restarts``) cannot choose which kind the outage hits, so
here nova-conductor is frozen (SIGSTOP) while the probe's request is
queued, then RabbitMQ stops, and the conductor thaws once the broker is
back: with a window the steps run again once nova-conductor answers; with
none (the control) they fail as nova's do.
"""

import json
import os
import subprocess
import time

from testbed.cloud import services as svc
from tests.functional.cloud import faults
from tests.functional.cloud import servers

ROOT = os.path.dirname(
    os.path.dirname(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    )
)
#: how long RabbitMQ stays stopped: longer than one call's timeout
DOWN_S = 25


def _probe(c, window_s):
    return subprocess.Popen(
        [c.layout.venv_bin('main', 'python'), '-m']
        + ['tests.functional.cloud.bus_probe', str(window_s), c.hosts[0]]
        + svc.nova_conf_args(c.layout, db=False),
        cwd=ROOT,
        env=c.supervisor.env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _ready(proc):
    line = proc.stdout.readline()
    assert line.startswith('{"ready"'), 'the probe did not connect: %s%s' % (
        line,
        proc.stderr.read()[-2000:] if proc.poll() is not None else '',
    )


def _result(proc, timeout):
    out, err = proc.communicate(timeout=timeout)
    lines = out.strip().splitlines()
    assert lines, 'the probe printed nothing (exit %s): %s' % (
        proc.returncode,
        err[-2000:],
    )
    return proc.returncode, json.loads(lines[-1])


def test_post_steps_run_again_once_the_broker_is_back(cloud):
    c = cloud
    probe, control = _probe(c, 300), _probe(c, 0)
    _ready(probe)
    _ready(control)
    conductor = faults.freeze(c, 'nova-conductor')
    try:
        for proc in (probe, control):
            proc.stdin.write('go\n')
            proc.stdin.flush()
        time.sleep(2)  # the requests are queued for the frozen conductor
        assert faults.stop_rabbitmq(c), 'RabbitMQ was not running'
        time.sleep(DOWN_S)
    finally:
        faults.start_rabbitmq(c)
        faults.thaw(conductor)
    back, back_wall = time.monotonic(), time.time()
    rc, got = _result(probe, 300)
    took = time.monotonic() - back
    ctl_rc, ctl = _result(control, 60)
    print(
        '\nwith a window: %s (%.0f s after the broker was back)' % (got, took)
    )
    print('control, window 0: exit %s %s' % (ctl_rc, ctl))
    # the control's only run timed out: nova's behaviour
    assert (ctl_rc, ctl) == (1, {'error': 'MessagingTimeout', 'runs': 1})
    # the first run timed out in the outage, the second found the computes
    assert rc == 0, got
    assert got['outage'] == 'MessagingTimeout' and got['runs'] == 2, got
    assert got['computes'] == len(c.hosts), got
    assert got['waited_s'] >= DOWN_S - 5, got
    # every nova-compute reported through the bus again: else the next test
    # finds a host nova calls down (its heartbeat stuck in the outage)
    servers.computes_up(c, since=back_wall, timeout=240)
