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
"""nova-compute with ``compute_driver = fleetfake.FleetFakeDriver``.

nova imports ``nova.virt.<compute_driver>``. The cloud's nova venv is shared
with the libvirt-mode cloud, whose editable install of this project (from
whichever checkout brought that cloud up) owns what it adds to
``nova.virt``; writing a module there for a test would change another
checkout's cloud. So nothing is installed: this starter, run by the nova
venv's interpreter with the repository on ``PYTHONPATH``, registers the
test bed's driver module under that name in ``sys.modules`` and then runs
nova-compute's own ``main``.

    python -m testbed.cloud.fleet_compute --config-file ... --log-file ...
"""

import sys

#: the ``compute_driver`` value the fleet computes' config names
DRIVER = 'fleetfake.FleetFakeDriver'


def main():
    # NOTE: nova.cmd.compute first: its first line patches the standard
    # library for nova's threading mode, before anything else imports it
    from nova.cmd import compute

    from testbed.cloud import fleetfake

    sys.modules['nova.virt.' + DRIVER.partition('.')[0]] = fleetfake
    sys.argv[0] = 'nova-compute'
    return compute.main()


if __name__ == '__main__':
    sys.exit(main())
