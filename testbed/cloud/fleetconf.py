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
"""The settings a test gives the fleet's fake driver: one JSON file.

Written by the test (``testbed.cloud.fleet.Fleet.settings``), read by
``FleetFakeDriver`` inside each fleet compute, whose environment names the
file in ``$LIVEMIGRATE_FLEET_FAKE``::

    {"migration_s": {"default": 2.0, "vm-7": 8.0},
     "inventory": {"compute3": {"MEMORY_MB": 2048}}}

A missing file or key means nova's fake behaviour (migrations of 5 s, its
inventory). Plain Python: no nova here.
"""

import json
import os

SETTINGS_ENV = 'LIVEMIGRATE_FLEET_FAKE'
#: what nova's FakeLiveMigrateDriver takes at most (50 x 0.1 s)
NOVA_FAKE_MIGRATION_S = 5.0


def read(path=None):
    """The settings (``{}`` when there is no file).

    :raises ValueError: on a file that is not a JSON object: a test that
        wrote one must hear of it, not get nova's defaults.
    """
    path = path or os.environ.get(SETTINGS_ENV)
    if not path or not os.path.exists(path):
        return {}
    with open(path) as f:
        settings = json.load(f)
    if not isinstance(settings, dict):
        raise ValueError('%s: not a JSON object' % path)
    return settings


def write(path, settings):
    """Replace the file at once: a compute never reads half of it."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = '%s.tmp.%d' % (path, os.getpid())
    with open(tmp, 'w') as f:
        json.dump(settings, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


def migration_s(settings, name, uuid):
    """Seconds the migration of one server lasts (by UUID, name, default).

    Example: ``{"migration_s": {"default": 2, "vm-7": 8}}`` -> vm-7 8 s,
    every other server 2 s; no ``migration_s`` -> 5 s, as nova's fake.
    """
    table = settings.get('migration_s') or {}
    for key in (uuid, name, 'default'):
        if key in table:
            return float(table[key])
    return NOVA_FAKE_MIGRATION_S


def inventory(settings, nodename):
    """``{resource class: total}`` the settings give ``nodename``."""
    return dict((settings.get('inventory') or {}).get(nodename) or {})
