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
"""Waiting for a cold migration: VERIFY_RESIZE on another host, honestly.

A cold migration has no progress to show: the server is resized onto
another host and waits there for the operator's confirmation. The wait
ends when nova leaves the server without a task; only VERIFY_RESIZE on
another host is a success, anything else fails with nova's failed
events as the reason.
"""

from osc_livemigrate.sdk import errors
from osc_livemigrate.sdk import events

#: where a cold migration's task ends
SETTLED = ('VERIFY_RESIZE', 'ACTIVE', 'ERROR', 'SHUTOFF')


def wait(compute, server, source, out, poll_s, timeout_s, clock, sleep):
    """Follow one cold migration to its end.

    :param out: the command's :class:`~osc_livemigrate.follow.output.Output`
    :param timeout_s: ``--wait-timeout`` (None: wait for ever)
    :returns: 0 once the server waits for confirmation on another host
    :raises CommandError: on a timeout, or a migration that did not move it
    """
    label = server.name or server.id
    t0 = clock()
    while True:
        with errors.sdk_errors('follow the migration of server %s' % label):
            srv = compute.get_server(server.id)
        status = (srv.status or '').upper()
        if srv.task_state is None and status in SETTLED:
            break
        if timeout_s is not None and clock() - t0 >= timeout_s:
            raise errors.command_error(
                'Gave up waiting after --wait-timeout %s s: '
                'server %s is still %s' % (timeout_s, label, srv.status)
            )
        sleep(poll_s)
    host = getattr(srv, 'compute_host', None)
    if status == 'VERIFY_RESIZE' and host != source:
        out.line(
            '%s: migrated to %s; confirm with `openstack server migration '
            'confirm %s`' % (label, host, label),
            kind='result',
            ok=True,
            host=host,
        )
        return 0
    failed = events.failed_events(compute, server.id, action_name='migrate')
    reason = 'server is %s on %s' % (srv.status, host) + ''.join(
        '; event %s: %s' % e for e in failed
    )
    raise errors.command_error(
        'Migration of server %s did not complete: %s' % (label, reason)
    )
