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
"""The only place that turns a policy decision into a libvirt call.

``guest`` is nova's :class:`nova.virt.libvirt.guest.Guest` (or anything with
the same four methods). A failed tuning call only warns, as nova does; a
failed abort re-raises, because a migration we meant to stop would go on.
"""

from oslo_log import log as logging

from nova_ext.core.observation import Action

LOG = logging.getLogger(__name__)


def apply(guest, decision, instance=None):
    """Carry out one decision.

    :returns: True if the call succeeded (NOTHING counts as success)
    :raises ValueError: for an action this module does not know
    :raises Exception: whatever libvirt raised when an abort failed
    """
    action = decision.action
    if action is Action.NOTHING:
        return True
    if action is Action.ABORT:
        guest.abort_job()
        return True
    calls = {
        Action.SET_DOWNTIME: lambda: guest.migrate_configure_max_downtime(
            decision.downtime_ms
        ),
        Action.POSTCOPY: guest.migrate_start_postcopy,
        Action.PAUSE: guest.pause,
    }
    if action not in calls:
        raise ValueError('unknown migration action %r' % (action,))
    try:
        calls[action]()
    except Exception as exc:
        LOG.warning(
            'Could not %(action)s: %(exc)s',
            {'action': action.value, 'exc': exc},
            instance=instance,
        )
        return False
    return True
