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
"""Every nova microversion the plugin relies on, in one table, with require().

Commands never compare version strings themselves: they ask ``supports`` or
``require`` by feature name, so a version appears exactly once in the tree.
"""

REQUIRED = {
    'force_complete': '2.22',  # POST .../migrations/{id}/action force_complete
    # GET /servers/{id}/migrations[/{id}] with bytes
    'server_migrations': '2.23',
    'migration_type': '2.23',  # id and migration_type in /os-migrations
    'abort': '2.24',  # DELETE /servers/{id}/migrations/{id}
    # block_migration='auto', no disk_over_commit
    'block_migration_auto': '2.25',
    # live migration to a host through the scheduler
    'live_migrate_host': '2.30',
    # pre-checks run after 202: failures land in the record
    'async_live_migrate': '2.34',
    'service_update': '2.53',  # PUT /os-services/{id}
    'cold_migrate_host': '2.56',  # cold migration to a named host
    'by_uuid': '2.59',  # migration uuid, paging, changes-since
    'abort_queued': '2.65',  # abort a queued or preparing live migration
    'changes_before': '2.66',
    'user_project': '2.80',  # user_id / project_id filters and fields
    'event_details': '2.84',  # instance action event "details"
}

TOO_OLD_MSG = '--os-compute-api-version %s or greater is required for %s'


def version(feature):
    """The minimum microversion of a feature.

    :raises KeyError: for a feature not in the table (a programming error).
    """
    return REQUIRED[feature]


def supports(compute, feature):
    """Whether the compute proxy's negotiated microversion covers a feature.

    :param compute: openstacksdk compute proxy (``client_manager.compute``).
    :param feature: key of :data:`REQUIRED`.
    """
    from openstack import utils as sdk_utils  # lazy: keep command import cheap

    return sdk_utils.supports_microversion(compute, REQUIRED[feature])


def require(compute, feature, what):
    """Raise a CommandError unless the microversion covers ``feature``.

    :param what: what the user asked for, named as they typed it, e.g.
        ``'server migration abort'`` or ``'--host with --live-migration'``.
    :raises osc_lib.exceptions.CommandError: naming ``what`` and the version;
        when the cloud itself is too old or unreachable, the message says so
        instead of blaming the user's --os-compute-api-version.
    """
    if supports(compute, feature):
        return
    from osc_lib import exceptions

    needed = REQUIRED[feature]
    msg = TOO_OLD_MSG % (needed, what)
    try:
        data = compute.get_endpoint_data()
    except Exception as e:  # noqa: BLE001 - only refines the message
        data, err = None, e
    else:
        err = None
    if data is None:
        msg += (
            '; could not ask the compute API which microversions it supports '
            '(%s)' % (err or 'no endpoint data: is nova-api reachable?')
        )
    elif not data.max_microversion or _older(data.max_microversion, needed):
        msg += "; this cloud's compute API supports only up to %s" % (
            _text(data.max_microversion) or '2.1'
        )
    else:
        msg += ' (you asked for %s)' % getattr(
            compute, 'default_microversion', '?'
        )
    raise exceptions.CommandError(msg)


def _text(version):
    if isinstance(version, tuple):
        return '.'.join(str(v) for v in version)
    return version


def _older(have, needed):
    from keystoneauth1 import discover

    return discover.normalize_version_number(
        have
    ) < discover.normalize_version_number(needed)
