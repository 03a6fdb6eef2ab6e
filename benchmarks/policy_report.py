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
"""What ``python -m benchmarks.policies`` prints: tables, then claims.

Each set of rows is checked on its own, under its own label: the main
matrix (10 % noise), the generalisation set, each noisier level and the
shared-link scenarios; a claim holds at every level or it fails.
"""

from benchmarks import cost_claims
from benchmarks import policy_claims
from benchmarks import policy_rows


def print_and_check(sets):
    """Print a table per family, link and scenario, then every claim.

    :returns: the claims, each set's under its own label
    """
    from benchmarks import policies as bench

    main_rows = sets.get('main', [])
    noisy = sets.get('noisy', [])
    shared = sets.get('shared', [])
    print('\n'.join(policy_rows.tables(main_rows, bench.POLICIES)))
    print(
        '\n'.join(
            policy_rows.tables(noisy, bench.POLICIES, policy_rows.noisy_title)
        )
    )
    print(
        '\n'.join(
            policy_rows.tables(
                shared, bench.POLICIES, policy_rows.scenario_title
            )
        )
    )
    claims = policy_claims.check(main_rows, 'main')
    claims.append(cost_claims.cost(main_rows, 'main'))
    if sets.get('generalisation'):
        claims += policy_claims.check(sets['generalisation'], 'generalisation')
    for sigma in bench.NOISY_SIGMAS:
        level = [r for r in noisy if r['sigma'] == sigma]
        if level:
            label = 'noise-%d' % round(sigma * 100)
            claims += policy_claims.check(level, label)
            claims.append(cost_claims.cost(level, label))
    if shared:
        claims += policy_claims.check(shared, 'shared')
        claims.append(cost_claims.cost(shared, 'shared'))
        claims.append(cost_claims.fleet(shared))
    print()
    for claim in claims:
        print(policy_claims.claim_line(claim))
    return claims
