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
"""What the driver publishes and reads: every name in one table.

The CLI (``osc_livemigrate``) never imports this package; it keeps its own
copy of the same names in ``osc_livemigrate/tables/contract.py``, and a test
compares the two. ``doc/source/admin/contract.rst`` says what each means.
Example: the phase the CLI shows while a broken post-copy waits::

    >>> PHASE_POSTCOPY_FAILED in PHASES
    True
    >>> PHASE_KEY
    'livemigrate:phase'
"""

from nova_ext.core.observation import Action
from nova_ext.core.observation import Phase

#: every server metadata key of ours starts with this
PREFIX = 'livemigrate:'

# -- what users (the CLI) write and the driver reads --------------------------

#: server metadata key asking for a policy (``server migrate --policy``)
POLICY_KEY = PREFIX + 'policy'
#: the same request as an image property (project members)...
POLICY_IMAGE_PROPERTY = 'livemigrate_policy'
#: ...and as a flavor extra spec (admins)
POLICY_FLAVOR_SPEC = 'livemigrate:policy'

# -- what the driver writes ---------------------------------------------------

MIGRATION_KEY = PREFIX + 'migration'
POLICY_USED_KEY = PREFIX + 'policy_used'
PHASE_KEY = PREFIX + 'phase'
ACTION_KEY = PREFIX + 'action'
REASON_KEY = PREFIX + 'reason'
DOWNTIME_KEY = PREFIX + 'downtime_ms'
DOWNTIME_MEASURED_KEY = PREFIX + 'downtime_measured'
#: why the requested policy was refused, for the whole migration: a JSON
#: object ``{"asked", "used", "reason"}`` of at most 255 characters, or ''
REFUSAL_KEY = PREFIX + 'policy_refused'
#: the shadow policies that ran beside the active one, comma-separated
#: (written with the first status of a migration; '' when none)
SHADOWS_KEY = PREFIX + 'shadows'
#: a shadow's decision is the event ``livemigrate_shadow:<policy>:<action>``
SHADOW_EVENT_PREFIX = 'livemigrate_shadow:'
#: the final figures of the server's last live migration that ended, kept
#: after nova stops serving its record: a JSON object of at most 255
#: characters with the fields below (``downtime_ms`` and ``action`` may be
#: null)
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
#: the outcome of an ended migration: nova's final migration status
LAST_OUTCOMES = frozenset(('completed', 'cancelled', 'error'))

#: every server metadata key the driver writes or reads
KEYS = frozenset(
    (
        POLICY_KEY,
        MIGRATION_KEY,
        POLICY_USED_KEY,
        PHASE_KEY,
        ACTION_KEY,
        REASON_KEY,
        DOWNTIME_KEY,
        DOWNTIME_MEASURED_KEY,
        REFUSAL_KEY,
        LAST_KEY,
        SHADOWS_KEY,
    )
)

#: the phase published while a post-copy waits for its lost destination
PHASE_POSTCOPY_FAILED = 'post-copy failed'
#: the phases published once the job ended
PHASE_COMPLETED = 'completed'
PHASE_ABORTED = 'aborted'
PHASE_FAILED = 'failed'
#: every published phase: the monitor's (pre-copy, post-copy, paused), then
#: the broken post-copy and the three ends
PHASES = frozenset(
    [phase.value for phase in Phase]
    + [PHASE_POSTCOPY_FAILED, PHASE_COMPLETED, PHASE_ABORTED, PHASE_FAILED]
)

#: published when a requested policy was not honoured
ACTION_POLICY_REFUSED = 'policy-refused'
#: what the source reported during post-copy, published like actions
ACTION_POSTCOPY_FAILED = 'postcopy-failed'
ACTION_POSTCOPY_RESUMED = 'postcopy-resumed'
#: how nova-compute settled, at its restart, a migration it had lost
#: (:mod:`nova_ext.core.restart`)
ACTION_RESTART_COMPLETED = 'restart-completed'
ACTION_RESTART_ROLLED_BACK = 'restart-rolled-back'
#: nova's post-migration steps waited for the message bus
#: (:mod:`nova_ext.compute.bus`)
ACTION_POST_STEPS_WAITED = 'post-steps-waited'
#: the actions that get an instance action event: every policy or operator
#: action the monitor applies, the refusal and the post-copy link reports
EVENT_ACTIONS = frozenset(
    [action.value for action in Action if action is not Action.NOTHING]
    + [
        ACTION_POLICY_REFUSED,
        ACTION_POSTCOPY_FAILED,
        ACTION_POSTCOPY_RESUMED,
        ACTION_RESTART_COMPLETED,
        ACTION_RESTART_ROLLED_BACK,
        ACTION_POST_STEPS_WAITED,
    ]
)
#: every published action. A job aborted before any action was published
#: (an API abort in the first poll) shows its end phase, ``aborted``, as
#: its action.
ACTIONS = EVENT_ACTIONS | {PHASE_ABORTED}

#: instance action events are named after the action: livemigrate_pause
EVENT_PREFIX = 'livemigrate_'
#: every instance action event name the driver records
EVENTS = frozenset(EVENT_PREFIX + action for action in EVENT_ACTIONS)
