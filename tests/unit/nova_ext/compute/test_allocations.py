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
"""The source allocation of a server deleted after a post-copy given up
on. Placement and nova's migration records are stand-ins here; the real
ones are in tests/functional/libvirt_cloud/test_libvirt_postcopy_lost.py.
"""

import types
from unittest import mock

from nova import objects

from nova_ext.compute import allocations

objects.register_all()  # as nova-compute does at its start

ERRORED = [
    types.SimpleNamespace(uuid='mig-1'),
    types.SimpleNamespace(uuid='mig-2'),
]


def _instance(task_state='deleting'):
    return types.SimpleNamespace(uuid='inst-1', task_state=task_state)


def _listing(migrations):
    return mock.patch.object(
        allocations.objects.MigrationList,
        'get_by_filters',
        return_value=migrations,
    )


def test_errored_migrations_from_this_host_are_released():
    client = mock.Mock()
    # placement held mig-1's allocation only
    client.delete_allocation_for_instance.side_effect = [True, False]
    with _listing(ERRORED) as listing:
        got = allocations.release_ended_in_error(
            'ctx', _instance(), 'cmp1', client=client
        )
    assert got == ['mig-1']
    listing.assert_called_once_with(
        'ctx',
        {
            'instance_uuid': 'inst-1',
            'migration_type': 'live-migration',
            'status': 'error',
            'source_compute': 'cmp1',
        },
    )
    assert client.delete_allocation_for_instance.call_args_list == [
        mock.call('ctx', uuid, consumer_type='migration', force=False)
        for uuid in ('mig-1', 'mig-2')
    ]


def test_failures_never_stop_the_delete():
    client = mock.Mock()
    client.delete_allocation_for_instance.side_effect = OSError('503')
    with _listing(ERRORED):
        assert (
            allocations.release_ended_in_error(
                'ctx', _instance(), 'cmp1', client=client
            )
            == []
        )
    with mock.patch.object(
        allocations.objects.MigrationList,
        'get_by_filters',
        side_effect=RuntimeError('db gone'),
    ):
        assert (
            allocations.release_ended_in_error(
                'ctx', _instance(), 'cmp1', client=client
            )
            == []
        )


class _Base:
    def __init__(self):
        self.destroyed = []

    def destroy(self, context, instance, *args, **kwargs):
        self.destroyed.append((instance.uuid, args, kwargs))


class _Driver(allocations.ReleasedOnDelete, _Base):
    pass


def test_only_a_delete_releases_and_after_the_guest_is_destroyed():
    drv = _Driver()
    with mock.patch.object(
        allocations, 'release_ended_in_error', return_value=[]
    ) as release:
        # a rollback, an evacuation clean-up, a resize: not a delete
        drv.destroy('ctx', _instance(task_state=None), 'nw', None)
        release.assert_not_called()
        drv.destroy('ctx', _instance(), 'nw', None, destroy_disks=True)
        release.assert_called_once_with('ctx', mock.ANY, allocations.CONF.host)
    assert drv.destroyed == [
        ('inst-1', ('nw', None), {}),
        ('inst-1', ('nw', None), {'destroy_disks': True}),
    ]
