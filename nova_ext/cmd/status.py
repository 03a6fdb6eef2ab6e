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
"""``nova-livemigrate-status upgrade check``: is this compute node ready?

Run it with nova-compute's configuration files, like ``nova-status``:

    nova-livemigrate-status --config-file /etc/nova/nova.conf upgrade check

It reports whether the configured driver loads, whether every policy named
in ``[livemigrate]`` parses, and whether nova sends service-user tokens
(without them, a migration that outlives the user's token cannot finish its
cleanup calls to neutron and cinder). Exit codes are oslo.upgradecheck's:
0 success, 1 warning, 2 failure.
"""

import sys

from oslo_upgradecheck import upgradecheck

from nova_ext import conf as lm_conf
from nova_ext.core import observation
from nova_ext.core.policies import base

SHIM = 'livemigrate.LibvirtDriver'


def _conf():
    from nova import conf as nova_conf

    conf = nova_conf.CONF
    if 'livemigrate' not in conf:
        lm_conf.register_opts(conf)
    return conf


class Checks(upgradecheck.UpgradeCommands):
    """The checks, each returning an upgradecheck.Result."""

    def _check_driver(self):
        conf = _conf()
        if conf.compute_driver != SHIM:
            return upgradecheck.Result(
                upgradecheck.Code.WARNING,
                'compute_driver is %r, not %r: nova_ext policies do not run '
                'on this host' % (conf.compute_driver, SHIM),
            )
        try:
            import nova.virt.livemigrate  # noqa: F401
        except SystemExit as exc:
            return upgradecheck.Result(upgradecheck.Code.FAILURE, str(exc))
        except ImportError as exc:
            return upgradecheck.Result(
                upgradecheck.Code.FAILURE,
                'nova.virt.livemigrate is not installed (%s); install '
                "osc-livemigrate into nova-compute's environment" % exc,
            )
        return upgradecheck.Result(upgradecheck.Code.SUCCESS)

    def _check_policies(self):
        conf = _conf()
        try:
            lm_conf.validate(
                conf, lambda: observation.MigrationContext(2 * 1024**3)
            )
        except base.PolicyError as exc:
            return upgradecheck.Result(upgradecheck.Code.FAILURE, str(exc))
        return upgradecheck.Result(upgradecheck.Code.SUCCESS)

    def _check_service_user(self):
        conf = _conf()
        if not conf.service_user.send_service_user_token:
            return upgradecheck.Result(
                upgradecheck.Code.WARNING,
                '[service_user] send_service_user_token is false: a live '
                "migration that outlives the user's token fails its cleanup "
                'calls to neutron and cinder',
            )
        return upgradecheck.Result(upgradecheck.Code.SUCCESS)

    _upgrade_checks = (
        ('Driver loads', _check_driver),
        ('Policies parse', _check_policies),
        ('Service user token', _check_service_user),
    )


def main():
    """Console script entry point."""
    return upgradecheck.main(_conf(), project='nova', upgrade_command=Checks())


if __name__ == '__main__':
    sys.exit(main())
