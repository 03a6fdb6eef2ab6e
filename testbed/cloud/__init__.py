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
"""A one-command mini-cloud (real nova 34 control plane on loopback) for CLI
tests.

    from testbed.cloud import Cloud
    cloud = Cloud(mode='fake')
    cloud.up()                      # idempotent; installs what is missing
    cloud.openstack('server', 'list')
    cloud.down()

Command line: python3 -m testbed.cloud {up,down,status,reset,env} [--mode
fake]. The rooms of the package are listed in its README.md.
"""


def __getattr__(name):
    """``Cloud`` and ``CloudError``, imported on first use: the command
    line names what is missing (psutil, openstacksdk) in one line when a
    bare interpreter runs it.
    """
    if name == 'Cloud':
        from testbed.cloud.cloud import Cloud

        return Cloud
    if name == 'CloudError':
        from testbed.cloud.procs import CloudError

        return CloudError
    raise AttributeError(name)
