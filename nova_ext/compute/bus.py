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
"""nova's post-migration steps, started only once the message bus answers.

When libvirt's job completes the guest already runs on the destination;
what is left is the final status write and nova's ``_post_live_migration``
on the source. Both need RabbitMQ: the status and ``instance.save`` go
through nova-conductor, ``post_live_migration_at_destination`` is a call
to the destination's nova-compute. Seen on the mini-cloud with RabbitMQ
stopped as the job completes: a call made while the broker is down waits
in oslo.messaging's reconnect loop; a call whose request reached the
broker just before it stopped, or reached it after its restart but before
the receiver had declared its queue again (a consumer backs off up to 16
s), is lost and times out after ``rpc_response_timeout`` (60 s). nova then
set the server to ERROR although it ran on the destination.

So :class:`PostSteps` first waits until nova-conductor and the
destination's nova-compute both answer a ping, within ``[livemigrate]
post_migration_bus_window_s`` from the job's end; a final status write
lost to the bus is written again once both answer. nova's own steps then
run once: they are not safe to repeat. When they fail, nova's wrapper
(``_post_live_migration_update_host``) has already recorded the
destination as the host with no task state, and a second
``post_live_migration_at_destination`` then fails its save, which expects
the ``migrating`` task state (seen on the cloud).

Example: RabbitMQ stops as the job completes and is back 65 s later. The
final status write times out at 60 s (the publisher logs it and keeps
the error); the pings fail until the broker and both services' queues are
back; the status is written again, nova's steps run, the migration ends
``completed`` and the event ``livemigrate_post-steps-waited`` says how
long it waited. After an outage a single answer is not trusted: the
services must keep answering for BUS_SETTLE_S first.
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
#: pause between pings that failed at once (a refused connection), and
#: between the pings that check the bus stays up
PING_EVERY_S = 2
#: after an outage, how long both services must keep answering before
#: nova's steps are sent. Seen on the mini-cloud: a ping answered 1 s after
#: RabbitMQ's restart, yet the ``post_live_migration_at_destination`` call
#: sent 0.2 s later never reached the destination, and nova set the server
#: to ERROR; connections refused during the outage retried 17 s later.
BUS_SETTLE_S = 20


def services_ping(context, dest):
    """A callable that asks nova-conductor and ``dest``'s nova-compute to
    answer, raising a bus error when one does not within PING_TIMEOUT_S.

    nova-compute reaches its database through nova-conductor (its objects'
    ``indirection_api``); a process without one (nova's own unit tests)
    has no services to wait for, and its ping always answers.
    """
    from nova.objects import base as objects_base

    if objects_base.NovaObject.indirection_api is None:
        return lambda: None

    def ping():
        from nova import baserpc
        from nova.compute import rpcapi as compute_rpcapi
        from nova.conductor import rpcapi as conductor_rpcapi

        baserpc.BaseAPI(conductor_rpcapi.RPC_TOPIC).ping(
            context, 'livemigrate', timeout=PING_TIMEOUT_S
        )
        # NOTE: every nova service serves the base API on its own queue
        compute = baserpc.BaseAPI(compute_rpcapi.RPC_TOPIC).client
        compute.prepare(server=dest, timeout=PING_TIMEOUT_S).call(
            context, 'ping', arg='livemigrate'
        )

    return ping


class PostSteps:
    """The steps after a completed job, run once the bus answers.

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
        """Ping until answered; True if answered within the window.

        Without an outage the first answer will do; after one, the answers
        must go on for BUS_SETTLE_S, and any failure starts that again.
        Example: broker back at 60 s; pings answered from 60 s on; nova's
        steps are sent at 80 s.
        """
        answered_since = None
        while self.window_s:
            began = self.clock()
            try:
                self.ping()
            except BUS_ERRORS as exc:
                self.outage = self.outage or exc
                answered_since = None
                if self.clock() >= self.deadline:
                    return False
                if self.clock() - began < PING_EVERY_S:
                    self.sleep(PING_EVERY_S)
                continue
            if answered_since is None:
                answered_since = began
            settled = self.clock() - answered_since >= BUS_SETTLE_S
            if self.outage is None or settled or self.clock() >= self.deadline:
                return True
            self.sleep(PING_EVERY_S)
        return False

    def run(self, steps):
        """Run ``steps()``, after a bus error again once the bus answers;
        only for steps that are safe to repeat.

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
        """A completed job: once the bus answers, its final status (again
        after a bus error), then nova's steps, once.

        :param report: publishes the final status through ``publisher``
            (which never raises; its ``last_error`` tells)
        :param post: nova's post-migration steps
        :param publisher: the migration's
            :class:`nova_ext.compute.publisher.Publisher`; it records the event
            ``livemigrate_post-steps-waited`` if the bus was missed
        """

        def final_status():
            report()
            if isinstance(publisher.last_error, BUS_ERRORS):
                raise publisher.last_error

        self.wait()
        self.run(final_status)
        if self.outage is not None:
            publisher.post_steps_waited(self)
        post()

    def waited_s(self):
        """Seconds since the steps were handed over."""
        return self.clock() - self.started
