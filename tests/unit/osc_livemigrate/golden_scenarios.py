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
"""Fixed fake-cloud scenarios of every command, replayed to prove behaviour.

Each scenario builds a :class:`fakes.FakeCompute`, runs one command line the
way ``openstack`` would and records stdout, stderr, the exit code and every
SDK call (``golden_run``). The scenarios are kept by command:
``golden_migrate`` (server migrate), ``golden_migrations`` (server migration
watch, list, show, abort, force complete) and ``golden_drain`` (compute host
drain); this module gathers them. The records of a known-good tree are
stored in ``golden/<scenario>.json``; ``test_golden`` replays and compares.
To record anew (only when a change of output is intended, and say so in the
commit)::

    python -m tests.unit.osc_livemigrate.golden_scenarios --write

To compare with another tree (an older commit), export it (``git archive
<commit> | tar -x -C /tmp/old``), copy ``golden_*.py`` into it, run the
command above there and ``diff -r`` the two ``golden`` directories.
"""

import os
import sys

from tests.unit.osc_livemigrate import golden_drain
from tests.unit.osc_livemigrate import golden_migrate
from tests.unit.osc_livemigrate import golden_migrations
from tests.unit.osc_livemigrate import golden_run

#: the modules whose scenarios register themselves on import
MODULES = (golden_migrate, golden_migrations, golden_drain)
GOLDEN = golden_run.GOLDEN
SCENARIOS = golden_run.SCENARIOS
golden_path = golden_run.golden_path
dump = golden_run.dump


def main(argv):
    """``--write``: record every scenario into golden/ (see module doc)."""
    if argv != ['--write']:
        raise SystemExit('usage: golden_scenarios --write')
    os.makedirs(GOLDEN, exist_ok=True)
    for name, func in sorted(SCENARIOS.items()):
        with open(golden_path(name), 'w') as f:
            f.write(dump(func()))
    print('wrote %d scenarios to %s' % (len(SCENARIOS), GOLDEN))


if __name__ == '__main__':
    main(sys.argv[1:])
