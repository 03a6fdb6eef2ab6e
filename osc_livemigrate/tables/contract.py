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
"""The CLI's half of the contract with the driver, in one table.

``doc/source/admin/contract.rst`` defines the contract; this module is the
only place the CLI spells its names. The driver keeps its own table
(``nova_ext/core/contract.py``, same names): the two halves never import each
other, and a test compares the two tables.

Example: the driver describes migration ``u1`` with ``{'livemigrate:
migration': 'u1', 'livemigrate:phase': 'post-copy', 'livemigrate:action':
'postcopy'}``; the CLI reads them as ``MIGRATION_KEY`` and
``PREFIX + field`` for ``field`` in ``STATUS_FIELDS``.
"""

PREFIX = 'livemigrate:'
#: written by the user or the CLI (``--policy``), read by the driver
POLICY_KEY = PREFIX + 'policy'
#: the migration the driver's status keys describe
MIGRATION_KEY = PREFIX + 'migration'
#: the driver's status keys the CLI reads, without the prefix, in the order
#: the CLI shows them
STATUS_FIELDS = ('policy_used', 'phase', 'action', 'reason', 'downtime_ms')
#: why the driver refused the requested policy, kept for the migration: a
#: JSON object ``{"asked": ..., "used": ..., "reason": ...}``, or ''
REFUSAL_KEY = PREFIX + 'policy_refused'
#: the shadow policies that ran beside the active one, comma-separated
#: (written with the first status of a migration; '' when none)
SHADOWS_KEY = PREFIX + 'shadows'
#: a shadow's decision is the event ``livemigrate_shadow:<policy>:<action>``
SHADOW_EVENT_PREFIX = 'livemigrate_shadow:'
#: the final figures of the server's last ended live migration: a JSON
#: object with ``LAST_FIELDS`` (``action`` and ``downtime_ms`` may be null)
LAST_KEY = PREFIX + 'last_migration'
LAST_FIELDS = (
    'migration',
    'outcome',
    'policy',
    'action',
    'memory_bytes',
    'disk_bytes',
    'duration_s',
    'downtime_ms',
)
LAST_OUTCOMES = frozenset(('completed', 'cancelled', 'error'))
#: every metadata key the CLI reads or writes
KEYS = frozenset(
    (POLICY_KEY, MIGRATION_KEY, REFUSAL_KEY, LAST_KEY, SHADOWS_KEY)
    + tuple(PREFIX + f for f in STATUS_FIELDS)
)

#: the phase of a post-copy whose connection to the destination broke:
#: nothing flows until it returns, so no ETA is shown
POSTCOPY_FAILED = 'post-copy failed'
PHASES = frozenset(
    (
        'pre-copy',
        'post-copy',
        POSTCOPY_FAILED,
        'paused',
        'completed',
        'aborted',
        'failed',
    )
)

#: the action published when the requested policy was not allowed
POLICY_REFUSED = 'policy-refused'
ACTIONS = frozenset(
    (
        'set-downtime',
        'postcopy',
        'pause',
        'abort',
        'postcopy-failed',
        'postcopy-resumed',
        'restart-completed',
        'restart-rolled-back',
        'post-steps-waited',
        POLICY_REFUSED,
    )
)

#: instance action events of the driver are named after its actions
EVENT_PREFIX = 'livemigrate_'
EVENTS = frozenset(EVENT_PREFIX + a for a in ACTIONS)

#: a job aborted before any action was published (an API abort in the first
#: poll) shows its end phase as its action; it has no event of its own
ENDED_AS_ACTION = 'aborted'
ACTIONS = ACTIONS | {ENDED_AS_ACTION}
