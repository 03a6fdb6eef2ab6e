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
"""Which phase follows which action: one table for the monitor, the
simulator, the published status and the tests.

A policy's action changes the phase only once libvirt accepted it, so the
monitor asks :func:`phase_after` with an action it has applied; the
simulator does the same when its model applies one.

Example: in pre-copy, ``POSTCOPY`` moves to post-copy and ``SET_DOWNTIME``
leaves pre-copy as it is::

    >>> phase_after(Phase.PRECOPY, Action.POSTCOPY)
    <Phase.POSTCOPY: 'post-copy'>
    >>> phase_after(Phase.PRECOPY, Action.SET_DOWNTIME)
    <Phase.PRECOPY: 'pre-copy'>
"""

from nova_ext.core.observation import Action
from nova_ext.core.observation import Phase

#: The phase a migration enters once an action was applied; an action not
#: listed here (nothing, a downtime step, abort) leaves the phase unchanged.
PHASE_AFTER_ACTION = {
    # the destination runs the guest and fetches the rest on demand
    Action.POSTCOPY: Phase.POSTCOPY,
    # the source's vCPUs stop; pre-copy finishes without new dirt
    Action.PAUSE: Phase.PAUSED,
}


def phase_after(phase, action):
    """The phase after ``action`` was applied in ``phase``.

    :param phase: the :class:`Phase` before the action
    :param action: the :class:`Action` that libvirt accepted
    :returns: the :class:`Phase` the migration is in now
    """
    return PHASE_AFTER_ACTION.get(action, phase)
