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
"""The osc_livemigrate package's files, as the plugin tests walk them."""

import configparser
import os

ROOT = os.path.dirname(
    os.path.dirname(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    )
)
PKG = os.path.join(ROOT, 'osc_livemigrate')


def _entry_point_modules():
    """Modules setup.cfg registers commands from, e.g. 'v1/drain.py'."""
    cfg = configparser.ConfigParser()
    cfg.read(os.path.join(ROOT, 'setup.cfg'))
    targets = cfg['entry_points']['openstack.livemigrate.v1'].splitlines()
    return {
        t.partition('=')[2]
        .strip()
        .partition(':')[0]
        .split('.', 1)[1]
        .replace('.', '/')
        + '.py'
        for t in targets
        if t.strip()
    }


#: modules every walk of the package must find; a walk that finds fewer
#: looked in the wrong place
EXPECTED = _entry_point_modules() | {
    'plugin.py',
    'sdk/errors.py',
    'sdk/lookups.py',
    'sdk/events.py',
    'tables/contract.py',
    'tables/microversions.py',
    'options.py',
    'follow/output.py',
    'follow/progress.py',
    'follow/waiting.py',
}


def package_modules():
    """Every .py file of the package, relative to it ('v1/watch.py')."""
    found = set()
    for root, _, files in os.walk(PKG):
        for name in files:
            if name.endswith('.py'):
                found.add(os.path.relpath(os.path.join(root, name), PKG))
    return found
