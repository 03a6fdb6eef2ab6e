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
"""openstackclient hooks: every ``openstack`` run imports this, so it stays
tiny.

Our commands talk to nova through the core compute client
(``client_manager.compute``, an openstacksdk proxy), so ``make_client`` hands
that back instead of building a client of its own. ``API_NAME`` must not be a
core name: OSC drops an extension whose API_NAME a base module already owns.
"""

import os

API_NAME = 'livemigrate'
API_VERSION_OPTION = 'os_livemigrate_api_version'
DEFAULT_API_VERSION = '1'
API_VERSIONS = ('1',)


def make_client(instance):
    """Return the compute proxy; the plugin has no endpoint of its own."""
    return instance.compute


def build_option_parser(parser):
    """Add ``--os-livemigrate-api-version`` (selects the command group)."""
    parser.add_argument(
        '--os-livemigrate-api-version',
        metavar='<livemigrate-api-version>',
        default=os.environ.get(
            'OS_LIVEMIGRATE_API_VERSION', DEFAULT_API_VERSION
        ),
        help='osc-livemigrate command set version, default=%s '
        '(Env: OS_LIVEMIGRATE_API_VERSION)' % DEFAULT_API_VERSION,
    )
    return parser


def check_api_version(check_version):
    """Let OSC warn about an unknown version instead of failing every command.

    :returns: True for a version we ship (OSC then skips its own check),
        False otherwise (OSC logs "not in supported versions").
    """
    return check_version in API_VERSIONS
