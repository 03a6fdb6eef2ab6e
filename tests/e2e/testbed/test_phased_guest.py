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
"""A phased guest on the real hosts: the schedule is what QEMU sees.

The guest's own heartbeats say what it wrote in each second; QEMU's
migration dirty-page rate (from its dirty bitmap, outside the guest) says
what a migration had to copy during a burst.  Both must follow the
schedule, and the checker must keep finding damage, and find none after a
migration.  (QEMU's calc-dirty-rate in dirty-bitmap mode reads 0 under TCG,
so the migration's own rate is the outside measurement here.)
"""

import threading
import time

from testbed.guest import spec as guest_spec
from testbed import libvirtd
from tests.e2e import guestcheck

libvirt = libvirtd.load_libvirt()

BURST_S, IDLE_S = 8.0, 4.0
BURST_MIB_S = 24
# The set is larger than what a burst writes in QEMU's ~1 s rate windows,
# so the count of distinct dirty pages per second is the write rate.
BURSTY = guest_spec.GuestSpec(
    mem_mib=256,
    fill_mib=32,
    verify_rate_mib_s=64,  # leaves the TCG vCPU time for the bursts
    **guest_spec.schedule_fields(
        (64,), [(BURST_S, (BURST_MIB_S,)), (IDLE_S, (0,))]
    ),
)
MIB = 1 << 20


def _guest_rates(report, spec):
    """Guest-reported MiB written in each whole second, by stage.

    The second ending at heartbeat ``t`` belongs to the stage in force at
    ``t - 0.5`` (heartbeats come just after each whole second).
    """
    rates = {}
    beats = report.heartbeats
    for a, b in zip(beats, beats[1:]):
        if b.t_s == a.t_s + 1:
            stage = spec.schedule.stage_at(b.t_s - 0.5)
            rates.setdefault(stage, []).append(b.dirtied_mib - a.dirtied_mib)
    return rates


def _migrate_sampling(pair, dom, dst, mib_s):
    """Live-migrate (peer to peer, as nova does); sample the job meanwhile.

    :returns: QEMU's dirty rates in MiB/s, one per rate window it closed.
    """
    dom.migrateSetMaxSpeed(mib_s, 0)
    params = {libvirt.VIR_MIGRATE_PARAM_URI: pair.migration_uri(dst)}
    outcome = {}

    def migrate():
        try:
            dom.migrateToURI3(
                pair.uri(dst),
                params,
                libvirt.VIR_MIGRATE_LIVE | libvirt.VIR_MIGRATE_PEER2PEER,
            )
        except libvirt.libvirtError as exc:
            outcome['error'] = exc

    thread = threading.Thread(target=migrate)
    thread.start()
    rates = []
    while thread.is_alive():
        try:
            stats = dom.jobStats()
        except libvirt.libvirtError:
            break  # the domain left the source
        rate = stats.get('memory_dirty_rate', 0)
        rate *= stats.get('memory_page_size', 4096) / MIB
        if rate and (not rates or rate != rates[-1]):
            rates.append(rate)
        time.sleep(0.1)
    thread.join(120)
    assert not thread.is_alive() and not outcome, outcome
    return rates


def test_burst_idle_guest_dirties_on_schedule_and_migrates_intact(
    host_pair, guests
):
    dom = guests('phased', BURSTY)
    # A whole period in the guest's log, then migrate as a burst begins.
    host_pair.wait_serial(
        'phased',
        lambda r: (
            any(b.stage == 1 for b in r.heartbeats)
            and r.heartbeats[-1].stage == 0
        ),
        BURST_S + IDLE_S + 30,
        'the second burst',
        dom=dom,
    )
    qemu_rates = _migrate_sampling(host_pair, dom, 'B', 48)
    before = host_pair.serial('phased')
    by_guest = _guest_rates(before, BURSTY)
    print(
        'guest MiB per second by stage: %s; QEMU dirty MiB/s in the '
        'burst: %s' % (by_guest, ['%.1f' % r for r in qemu_rates])
    )

    assert before.start['sets'] == 1 and before.start['stages'] == 2
    assert by_guest[0] and all(
        abs(mib - BURST_MIB_S) <= 0.2 * BURST_MIB_S + 1 for mib in by_guest[0]
    ), by_guest
    assert by_guest[1] and all(mib <= 1 for mib in by_guest[1]), by_guest
    median = sorted(qemu_rates)[len(qemu_rates) // 2] if qemu_rates else 0
    assert abs(median - BURST_MIB_S) <= 0.25 * BURST_MIB_S, qemu_rates

    assert host_pair.find_domain('phased') == 'B'
    guestcheck.assert_alive_and_intact(host_pair, 'phased', BURSTY, before)


def test_checker_finds_injected_damage_under_a_schedule(host_pair, guests):
    # Hot set busy, warm set idle in the first stage: damage in the warm
    # set is only found by the sweep, in the hot set by either check.
    spec = guest_spec.GuestSpec(
        mem_mib=192,
        fill_mib=16,
        inject_corrupt=4,
        **guest_spec.schedule_fields((8, 8), [(2, (10, 0)), (2, (0, 10))]),
    )
    guests('phased-inject', spec)
    report = host_pair.wait_serial(
        'phased-inject', lambda r: r.verifies, 60, 'a VERIFY sweep'
    )
    # 4 pages spread over the 8192 written: one every 2048
    assert report.verifies[0].corrupt == 4, report.verifies
    assert sorted(report.corrupt_pages) == [
        ('fill', 0),
        ('fill', 2048),
        ('hot', 0),
        ('warm', 0),
    ], report.corrupt_pages
