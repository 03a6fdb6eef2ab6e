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
"""nova_ext.compute.bus.PostSteps in a process wired as nova-compute is.

Run by tests/functional/cloud/test_bus_outage.py with the cloud's nova
virtualenv: ``python -m tests.functional.cloud.bus_probe WINDOW_S
COMPUTE_HOST --config-file nova.conf``; its pings go to nova-conductor
and that host's nova-compute, as the driver's go to the destination's.
Its objects reach the database through nova-conductor over RabbitMQ, as
nova-compute's do; its one step is a remotable object call, safe to
repeat like the final status write. It makes the call once, prints
``{"ready": N}`` and waits for a line on stdin (the test stops RabbitMQ
in between); then it runs the step through PostSteps and prints one JSON
line: the result, how many runs, the first bus error and the seconds
waited; or exits 1 with the error's class name when the steps failed.
"""

import json
import sys
import tempfile

#: each call's timeout (nova's default is 60 s; shorter keeps the test short)
RPC_TIMEOUT_S = 8


def main(argv):
    window_s, dest, conf_args = float(argv[0]), argv[1], argv[2:]
    from nova.conductor import rpcapi as conductor_rpcapi
    from nova import config
    from nova import context
    from nova import objects
    from nova.objects import base as objects_base

    from nova_ext.compute import bus

    objects.register_all()
    # NOTE: oslo.messaging registers rpc_response_timeout only once a
    # client exists, so the short timeout comes as one more config file
    with tempfile.NamedTemporaryFile('w', suffix='.conf') as extra:
        extra.write('[DEFAULT]\nrpc_response_timeout = %d\n' % RPC_TIMEOUT_S)
        extra.flush()
        config.parse_args(
            ['bus-probe'] + conf_args + ['--config-file', extra.name],
            configure_db=False,
        )
    objects_base.NovaObject.indirection_api = conductor_rpcapi.ConductorAPI()
    ctx = context.get_admin_context()

    def step():
        return len(objects.ServiceList.get_by_binary(ctx, 'nova-compute'))

    # NOTE: connected first, as a running nova-compute is; the test stops
    # RabbitMQ, then says go
    print(json.dumps({'ready': step()}), flush=True)
    sys.stdin.readline()
    steps = bus.PostSteps(bus.services_ping(ctx, dest), window_s)
    try:
        found = steps.run(step)
    except bus.BUS_ERRORS as exc:
        print(json.dumps({'error': type(exc).__name__, 'runs': steps.runs}))
        return 1
    print(
        json.dumps(
            {
                'computes': found,
                'runs': steps.runs,
                'outage': type(steps.outage).__name__,
                'waited_s': round(steps.waited_s(), 1),
            }
        )
    )
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
