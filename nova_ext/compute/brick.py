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
"""When a host gives up a volume, disconnect it with os-brick's ``force``.

Without ``force`` a failed flush leaves the device mapped, and a later
guest on this host can be handed the wrong volume (nova bug 2004555,
OSSN-0092). nova 34 already forces on its destroy paths (``_cleanup``);
this module covers the other paths where the host gives a volume up.
os-brick always flushes and disconnects gracefully first; ``force`` only
makes it remove the devices when that fails. ``ignore_errors`` then
decides whether the failure is still reported: only where raising would
do more harm than good (see :data:`PATHS`).
"""

import contextlib
import copy
import dataclasses
import threading


@dataclasses.dataclass(frozen=True)
class Rule:
    """How to disconnect on one path, and why."""

    force: bool
    ignore_errors: bool
    why: str


PATHS = {
    'destroy': Rule(
        True,
        False,
        'delete, rebuild, shelve-offload, evacuate '
        'and failed-spawn cleanup: nova 34 forces there itself '
        '(_cleanup); listed so the table is complete',
    ),
    'post_live_migration_source': Rule(
        True,
        False,
        'the guest already runs on the destination, so this '
        'host must not keep the device; nova 34 catches and logs a failed '
        'disconnect here with the volume and instance, which '
        'ignore_errors would silence',
    ),
    'rollback_at_destination': Rule(
        True,
        False,
        'the destination never ran the guest; nova cleans it up '
        'through destroy, and the error is reported so the operator sees a '
        'host that may hold a stale mapping',
    ),
    'migrate_disk_and_power_off': Rule(
        True,
        False,
        'resize or cold migration: the guest is off and leaves '
        'this host; an error fails the resize while the instance can still '
        'be reverted',
    ),
    'detach_volume': Rule(
        True,
        False,
        'the guest has let go of the disk; force only removes '
        'the devices after a graceful flush fails, and the user sees the '
        'error',
    ),
    'swap_volume': Rule(
        True,
        True,
        'the guest already runs on the new volume when the old '
        'one is disconnected; raising would make nova roll back a swap the '
        'guest has made, so the devices go and os-brick logs the error',
    ),
    'attach_rollback': Rule(
        True,
        False,
        'attaching failed, so the guest never used the volume; '
        'the original error is what the caller sees',
    ),
    'connect_rollback': Rule(
        True,
        False,
        'the encryptor could not attach, so the guest never '
        'used the volume; nova calls the volume driver directly here',
    ),
}

_state = threading.local()


@contextlib.contextmanager
def giving_up(path):
    """Mark the code inside as a path where this host gives up volumes.

    :param path: a key of :data:`PATHS`
    :raises KeyError: for a path with no written-down rule
    """
    rule = PATHS[path]
    previous = getattr(_state, 'rule', None)
    _state.rule = rule
    try:
        yield rule
    finally:
        _state.rule = previous


def current():
    """:returns: the :class:`Rule` in force on this thread, or None."""
    return getattr(_state, 'rule', None)


def should_force(requested):
    """:returns: True if the caller asked for force or a rule demands it."""
    rule = current()
    return bool(requested or (rule and rule.force))


class _IgnoringConnector:
    """An os-brick connector whose disconnects pass ``ignore_errors``."""

    def __init__(self, connector):
        self._connector = connector

    def disconnect_volume(self, *args, **kwargs):
        kwargs.setdefault('ignore_errors', True)
        return self._connector.disconnect_volume(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._connector, name)


def with_rule(volume_driver):
    """The volume driver to use under the current rule.

    nova's volume drivers never pass ``ignore_errors``, and some nova paths
    call ``vol_driver.disconnect_volume`` without ``force``; under a rule we
    hand back a shallow copy that adds what the rule asks for, leaving
    nova's cached driver untouched.
    """
    rule = current()
    if not rule:
        return volume_driver
    clone = copy.copy(volume_driver)
    if rule.force and hasattr(volume_driver, 'disconnect_volume'):
        original = type(volume_driver).disconnect_volume

        def disconnect_volume(connection_info, instance, force=False):
            return original(clone, connection_info, instance, force=True)

        clone.disconnect_volume = disconnect_volume
    if rule.ignore_errors and hasattr(volume_driver, 'connector'):
        clone.connector = _IgnoringConnector(volume_driver.connector)
    return clone
