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
what is left is the final status write and nova's ``_post_live_migration``
on the source. Both need RabbitMQ: the status and ``instance.save`` go
through nova-conductor, ``post_live_migration_at_destination`` to the
destination. If the bus is down then, the first such call times out after
``[DEFAULT] rpc_response_timeout`` (60 s): the final figures are lost and
nova sets the server to ERROR although the move itself succeeded.

So :class:`PostSteps` first waits until nova-conductor answers a ping,
and a bus error (a timeout or a failed delivery) in the final status
write or in nova's steps waits again and runs that part again, all
within ``[livemigrate]
post_migration_bus_window_s`` from the job's end. Running them again is
safe because each step that already ran is idempotent in nova 34: the
destination's port binding is activated once (neutron's 409 "already
active" is taken as success), the source's volume connections and disks
are removed only if present, and ``post_live_migration_at_destination``
defines the domain and sets the host, which a second run sets to the same
values. Any other exception, and a bus error after the window, is raised
as before.

Example: RabbitMQ stops as the job completes and is back 65 s later. The
final status write times out at 60 s (the publisher logs it and keeps
the error); the pings fail until the broker is back; the status is
written again, nova's steps run once, the migration ends ``completed``
and the event ``livemigrate_post-steps-waited`` says how long it waited.
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
    when it does not within PING_TIMEOUT_S.

    nova-compute reaches its database through nova-conductor (its objects'
    ``indirection_api``); a process without one (nova's own unit tests)
    has no conductor to wait for, and its ping always answers.
    """
    from nova.objects import base as objects_base

    if objects_base.NovaObject.indirection_api is None:
        return lambda: None

    def ping():
        from nova.conductor import api as conductor_api

        base = conductor_api.API().base_rpcapi
        return base.ping(context, 'livemigrate', timeout=PING_TIMEOUT_S)

    return ping


class PostSteps:
    """The steps after a completed job, each run once the bus answers.

    :param ping: raises one of BUS_ERRORS while the bus is down
    :param window_s: how long after the job's end to keep waiting; 0
        never pings nor waits (nova's own behaviour)
    """

    def __init__(self, ping, window_s, clock=time.monotonic, sleep=time.sleep):
        self.ping, self.clock, self.sleep = ping, clock, sleep
        self.window_s = window_s
        self.started = clock()
        self.deadline = self.started + window_s
        #: the first bus error seen, None while the bus answered
        self.outage = None
        self.runs = 0

    def wait(self):
        """Ping until answered; True if answered within the window."""
        while self.window_s:
            began = self.clock()
            try:
                self.ping()
                return True
            except BUS_ERRORS as exc:
                self.outage = self.outage or exc
                if self.clock() >= self.deadline:
                    return False
                if self.clock() - began < PING_EVERY_S:
                    self.sleep(PING_EVERY_S)
        return False

    def run(self, steps):
        """Run ``steps()``, after a bus error again once the bus answers.

        :returns: what ``steps()`` returned
        :raises: the last bus error once the window is over, or any other
            exception of ``steps()`` at once
        """
        while True:
            self.runs += 1
            try:
                return steps()
            except BUS_ERRORS as exc:
                self.outage = self.outage or exc
                LOG.warning(
                    'A message-bus call after the live migration '
                    'completed failed (%s); that part runs again once '
                    'nova-conductor answers',
                    exc,
                )
                if self.clock() >= self.deadline or not self.wait():
                    raise

    def complete(self, report, post, publisher):
        """A completed job: its final status, then nova's steps, each run
        once the bus answers and again after a bus error.

        :param report: publishes the final status through ``publisher``
            (which never raises; its ``last_error`` tells)
        :param post: nova's post-migration steps
        :param publisher: the migration's
            :class:`nova_ext.publisher.Publisher`; it records the event
            ``livemigrate_post-steps-waited`` if the bus was missed
        """

        def final_status():
            report()
            if isinstance(publisher.last_error, BUS_ERRORS):
                raise publisher.last_error

        self.wait()
        self.run(final_status)
        self.run(post)
        if self.outage is not None:
            publisher.post_steps_waited(self)

    def waited_s(self):
        """Seconds since the steps were handed over."""
        return self.clock() - self.started
