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
"""The honest verdict of a live migration, from plain values.

``--wait``, ``watch`` and a drain all end with :func:`decide_outcome`
(through :func:`osc_livemigrate.follow.waiting.judge`): ``ok`` only for a
completed move to another host. What it quotes of server metadata says
that the server's owner can write it (:mod:`trust`).
"""

import dataclasses

from osc_livemigrate.follow import progress
from osc_livemigrate.follow import trust
from osc_livemigrate.tables import contract

SUCCESS = progress.SUCCESS


@dataclasses.dataclass(frozen=True)
class Outcome:
    """How a wait ended: ``ok`` only for a completed move to another host."""

    ok: bool
    reason: str
    status: str = None
    host: str = None


def decide_outcome(
    source_host,
    final_host,
    migration_status,
    keys=None,
    failed_events=(),
    refused=None,
):
    """The honest verdict of a live migration.

    :param source_host: host before the migration started.
    :param final_host: host the server is on now.
    :param migration_status: final status of the migration record (None when
        no record was found).
    :param keys: :func:`driver_keys` of that migration.
    :param failed_events: ``(event name, message)`` of instance action
        events whose result is not Success.
    :param refused: the driver's reason if it refused the requested policy at
        any point of the wait; the verdict is then a failure even if the
        migration completed under another policy.
    :returns: an :class:`Outcome`. Example: status ``cancelled`` on the
        source host gives ``ok=False`` and ``reason="migration cancelled;
        server still on compute1"``.
    """
    keys = keys or {}
    moved = bool(final_host) and final_host != source_host
    where = final_host
    if source_host is None and final_host is None:
        # NOTE: nova shows hosts to admins only; to a project manager the
        # record's status is all there is to check
        moved = migration_status == SUCCESS
        where = 'a host nova names to admins only'
    if migration_status == SUCCESS and moved and refused is None:
        return Outcome(
            True,
            'completed: server now on %s' % where,
            migration_status,
            final_host,
        )
    if migration_status is None:
        why = 'no migration record found'
    elif migration_status == SUCCESS:
        why = (
            'migration completed'
            if moved
            else 'migration says completed but the server is still on %s'
            % final_host
        )
    else:
        why = 'migration %s' % migration_status
    if not moved and migration_status != SUCCESS:
        why += '; server still on %s' % (final_host or '?')
    elif moved:
        why += '; server is on %s' % where
    if refused is not None:
        why += '; requested policy refused by the driver: %s' % (
            refused or 'no reason given'
        )
    if keys.get('action') != contract.POLICY_REFUSED and (
        keys.get('action') or keys.get('phase')
    ):
        why += '; %s: %s' % (
            trust.SAYS,
            ', '.join(
                '%s=%s' % (k, keys[k])
                for k in ('phase', 'action', 'reason')
                if k in keys
            ),
        )
    for name, message in failed_events:
        why += '; event %s: %s' % (name, message)
    return Outcome(False, why, migration_status, final_host)
