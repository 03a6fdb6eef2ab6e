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
"""The terms the benchmarks share: limits, budgets and which policies run.

The policies are the installed ones (the ``nova_ext.migration_policies``
entry points, :func:`nova_ext.core.loader.available_policies`); a
benchmark adds only reference rows that are not policies, by name.
"""

from nova_ext.core import loader

#: the downtime every run permits
LIMIT_MS = 500
#: the simulator's fixed cost of a stop-and-copy (real switch-over)
OVERHEAD_MS = 270.0
#: adaptive's pause budget where pausing is permitted
PAUSE_BUDGET_MS = 5000
#: nova's budget: its default completion timeout, per GiB of data
NOVA_BUDGET_S_PER_GIB = 800.0

#: the policy the claims are about, and the one they measure it against
SUBJECT = 'adaptive'
BASELINE = 'nova'
#: the reference row that is not a policy
#: (:class:`nova_ext.core.sim.oracle.OraclePrecopy`)
ORACLE = 'oracle-precopy'
#: the order rows and tables show policies in: the baseline first, the
#: subject last. It only orders: every installed policy runs, one this
#: does not name after these, by name.
ORDER = ('nova', 'schedule', 'kubevirt', 'adaptive')


def policies():
    """:returns: every installed policy's name, in :data:`ORDER`."""
    rank = {name: i for i, name in enumerate(ORDER)}
    return tuple(
        sorted(
            loader.available_policies(),
            key=lambda name: (rank.get(name, len(rank)), name),
        )
    )
