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
"""The adaptive policy's time bounds, all from the measured bandwidth.

Kept apart so that every bound visibly takes the bandwidth the migration
measures (:mod:`.bandwidth`), never a figure assumed up front: on a
shared link it halves when another migration starts, and T_obs, the
budget and one copy move with it.
"""


def ram_s(context, bw_bps):
    """RAM / bandwidth: the time one full copy takes."""
    return context.ram_bytes / bw_bps


def disk_s(context, bw_bps):
    """Local disks / bandwidth: a block migration's first part, in which
    memory is not copied yet and shows no rounds.
    """
    return context.disk_bytes / bw_bps


def horizon_s(params, context, bw_bps, first_bps=None):
    """T_obs, or the shorter post-copy horizon where auto-converge is on
    too; both after the disks' copy, as nova's budget counts disk bytes.

    Never shorter than at ``first_bps``, the bandwidth at the start: a
    link that got faster (others on it ended) leaves only rounds sent at
    the old speed as evidence. A slower one lengthens it.

    Example: 4 GiB RAM and a 64 GiB disk at 1 GiB/s: 64 s of disk, then
    T_obs = 64 + 120 + 3 x 4 = 196 s.
    """
    if first_bps and first_bps < bw_bps:
        return horizon_s(params, context, first_bps)
    copy_s = ram_s(context, bw_bps)
    t_obs = params['observe_s'] + params['observe_ram_times'] * copy_s
    permits = context.permits
    if permits.postcopy and permits.auto_converge:
        t_obs = min(t_obs, params['postcopy_observe_s'] + copy_s)
    return disk_s(context, bw_bps) + t_obs


def budget_s(params, context, bw_bps, data_gib):
    """Latest projected end of pre-copy that is worth waiting for."""
    budget = params['horizon_ram_times'] * (
        ram_s(context, bw_bps) + disk_s(context, bw_bps)
    )
    per_gib = params['completion_timeout_s_per_gib']
    if per_gib:
        budget = min(budget, per_gib * data_gib)
    return budget
