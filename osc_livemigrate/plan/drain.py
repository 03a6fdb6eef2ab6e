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
"""Pure planning for ``compute host drain``: what to do with each server, when
to retry.

Kept apart from the command so the decisions (which servers move, which wait
for a migration already running, which cannot be live-migrated, which
errors deserve another attempt) are tested with plain values.
"""

import dataclasses

from osc_livemigrate.tables import contract

MIGRATE = 'migrate'
FOLLOW = (
    'follow'  # a migration from an earlier run is still going: wait for it
)
SKIP = 'skip'
#: moved by an earlier run of a resumed drain: nothing to do
DONE = 'done'

LIVE_MIGRATABLE = ('ACTIVE', 'PAUSED')
RETRYABLE_HTTP = frozenset((409, 429, 500, 502, 503, 504))
# Final statuses worth another attempt: nova's async pre-checks end in 'error'
# (e.g. the destination was briefly full or busy), a failed copy in 'failed'.
# 'cancelled' means somebody aborted on purpose, so it is final.
RETRYABLE_STATUS = frozenset(('error', 'failed'))

MIGRATED, FAILED, SKIPPED, TIMED_OUT, PLANNED = (
    'migrated',
    'failed',
    'skipped',
    'timed-out',
    'planned',
)
OK_RESULTS = frozenset((MIGRATED, PLANNED))


@dataclasses.dataclass(frozen=True)
class Item:
    """One server of the plan."""

    server_id: str
    name: str
    action: str
    policy: str = None  # to set as livemigrate:policy before migrating
    reason: str = ''


def _get(server, key):
    if isinstance(server, dict):
        return server.get(key)
    return getattr(server, key, None)


def parse_server_policies(values):
    """``['vm1=adaptive', 'vm2=nova']`` -> ``{'vm1': 'adaptive', 'vm2':
    'nova'}``.

    :raises ValueError: naming the malformed value.
    """
    out = {}
    for value in values or ():
        name, sep, policy = value.partition('=')
        if not sep or not name or not policy:
            raise ValueError(
                '--server-policy %r must look like SERVER=POLICY' % value
            )
        out[name] = policy
    return out


def build_plan(servers, default_policy=None, server_policies=None):
    """Decide what happens to each server on the host, in a stable order.

    :param servers: objects or dicts with ``id``, ``name``, ``status``,
        ``task_state`` and ``metadata`` (the SDK's Server has them).
    :param default_policy: ``--policy`` for every server, or None.
    :param server_policies: ``{name or id: policy}`` from ``--server-policy``.
    :returns: a list of :class:`Item`, sorted by name then ID. A policy is
        only set where the server's metadata does not already hold it, so a
        re-run writes nothing.
    """
    server_policies = server_policies or {}
    plan = []
    for s in sorted(
        servers, key=lambda s: ((_get(s, 'name') or ''), _get(s, 'id'))
    ):
        sid, name = _get(s, 'id'), _get(s, 'name') or _get(s, 'id')
        status = (_get(s, 'status') or '').upper()
        task = _get(s, 'task_state')
        wanted = (
            server_policies.get(name)
            or server_policies.get(sid)
            or default_policy
        )
        have = (_get(s, 'metadata') or {}).get(contract.POLICY_KEY)
        policy = wanted if wanted and wanted != have else None
        if task == 'migrating' or status == 'MIGRATING':
            plan.append(
                Item(
                    sid,
                    name,
                    FOLLOW,
                    None,
                    'a live migration is already running',
                )
            )
        elif task is not None:
            plan.append(
                Item(
                    sid,
                    name,
                    SKIP,
                    None,
                    'busy with task %s; run the drain again when it ends'
                    % task,
                )
            )
        elif status in LIVE_MIGRATABLE:
            plan.append(Item(sid, name, MIGRATE, policy))
        else:
            plan.append(
                Item(
                    sid,
                    name,
                    SKIP,
                    None,
                    'status %s cannot be live-migrated; cold-migrate it with '
                    '`openstack server migrate %s`' % (status or '?', sid),
                )
            )
    return plan


def retry_start_error(status_code):
    """Whether a failed live-migrate request is worth another attempt."""
    return status_code in RETRYABLE_HTTP or status_code is None


def retry_outcome(migration_status):
    """Whether a migration that ended this way is worth another attempt."""
    return migration_status in RETRYABLE_STATUS


def failed(results):
    """Whether any result means the host is not drained."""
    return any(r.result not in OK_RESULTS for r in results)


@dataclasses.dataclass(frozen=True)
class Result:
    """One row of the final table."""

    server: str
    result: str
    destination: str = None
    duration_s: float = None
    reason: str = ''
    attempts: int = 0

    def row(self):
        return (
            self.server,
            self.result,
            self.destination,
            None if self.duration_s is None else round(self.duration_s, 1),
            self.reason,
        )


RESULT_HEADERS = ('Server', 'Result', 'Destination', 'Duration', 'Reason')
