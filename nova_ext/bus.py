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
"""nova's post-migration steps, carried across a message-bus outage.

When libvirt's job completes the guest already runs on the destination;
what is left is nova's ``_post_live_migration`` on the source. Several of
its steps are calls over RabbitMQ (``instance.save`` through
nova-conductor in ``driver.cleanup``, ``post_live_migration_at_destination``
to the destination). If the bus is down then, the first such call times
out after ``[DEFAULT] rpc_response_timeout`` (60 s) and nova sets the
server to ERROR although the move itself succeeded.

So a bus error (a timeout or a failed delivery) does not end the steps:
the driver waits until nova-conductor answers a ping, then runs the steps
again, for at most ``[livemigrate] post_migration_bus_window_s``. Running
them again is safe because each step that already ran is idempotent in
nova 34: the destination's port binding is activated once (neutron's 409
"already active" is taken as success), the source's volume connections
and disks are removed only if present, and
``post_live_migration_at_destination`` defines the domain and sets the
host, which a second run sets to the same values. Any other exception,
and a bus error after the window, is raised as before.

Example: RabbitMQ stops as the job completes and is back 60 s later. The
first run blocks in ``instance.save`` and times out at 60 s; the pings
fail until the broker is back (at most one ping timeout later); the second
run completes; the migration ends ``completed`` with the event
``livemigrate_post-steps-retried``.
"""

import time

from oslo_log import log as logging
import oslo_messaging

LOG = logging.getLogger(__name__)

#: what a call over a stopped or unreachable broker raises
BUS_ERRORS = (
    oslo_messaging.MessagingTimeout,
    oslo_messaging.MessageDeliveryFailure,
)
#: how long one ping may wait for nova-conductor's answer
PING_TIMEOUT_S = 5
#: pause between pings that failed at once (a refused connection)
PING_EVERY_S = 2


def conductor_ping(context):
    """A callable that asks nova-conductor to answer, raising a bus error
    when it does not within PING_TIMEOUT_S. Built on first use: nova's RPC
    layer exists only inside a running service.
    """

    def ping():
        from nova.conductor import api as conductor_api

        base = conductor_api.API().base_rpcapi
        return base.ping(context, 'livemigrate', timeout=PING_TIMEOUT_S)

    return ping


def wait_for_bus(ping, deadline, clock=time.monotonic, sleep=time.sleep):
    """Ping until answered; True if answered before ``deadline``."""
    while clock() < deadline:
        started = clock()
        try:
            ping()
            return True
        except BUS_ERRORS:
            if clock() - started < PING_EVERY_S:
                sleep(PING_EVERY_S)
    return False


def across_outage(
    steps,
    ping,
    window_s,
    on_retry=lambda exc: None,
    clock=time.monotonic,
    sleep=time.sleep,
):
    """Run ``steps()``; after a bus error, wait for the bus and run again.

    :param window_s: how long after the first failure to keep trying; 0
        raises the first bus error at once
    :param on_retry: called with the error once the steps have succeeded
        on a later run (to record why they ran twice)
    :returns: what ``steps()`` returned
    :raises: the last bus error once the window is over, or any other
        exception of ``steps()`` at once
    """
    first = None
    deadline = None
    while True:
        try:
            result = steps()
        except BUS_ERRORS as exc:
            first = first or exc
            deadline = deadline or clock() + window_s
            LOG.warning(
                "A message-bus call in nova's post-migration steps "
                'failed (%s); they run again once nova-conductor answers',
                exc,
            )
            if not wait_for_bus(ping, deadline, clock, sleep):
                raise
            continue
        if first is not None:
            on_retry(first)
        return result
