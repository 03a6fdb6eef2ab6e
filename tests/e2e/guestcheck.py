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
"""After a real migration: is the guest alive, and is its memory intact?

The guest's init re-reads every page it wrote in VERIFY sweeps; a sweep
that starts after the event covers the host that now runs it.
"""


def wait_alive_after(pair, name, before, timeout=120):
    """Wait for 3 more heartbeats, 2 more complete VERIFY sweeps and the
    dirtier's count to grow. A phased guest's next 3 beats may all fall in
    its idle stage (4 s of a 12 s period), so beats alone do not show it
    dirtying again.
    """
    dirtied = before.heartbeats[-1].dirtied_mib if before.heartbeats else -1
    return pair.wait_serial(
        name,
        lambda r: (
            len(r.verifies) >= len(before.verifies) + 2
            and len(r.heartbeats) >= len(before.heartbeats) + 3
            and r.heartbeats[-1].dirtied_mib > dirtied
        ),
        timeout,
        'heartbeats, two VERIFY sweeps and more dirtied memory after the '
        'migration',
    )


def assert_alive_and_intact(pair, name, spec, before, frozen=False):
    """Assert heartbeats go on and no written page is corrupt.

    :param frozen: the fault froze the guest for a while (a post-copy
        with its link cut), so kernel lockup reports are allowed; any
        other kernel report still fails
    :returns: the serial report, for further checks
    """
    report = wait_alive_after(pair, name, before)
    new_beats = report.heartbeats[len(before.heartbeats) :]
    new_sweeps = report.verifies[len(before.verifies) :]
    panics = report.damage if frozen else report.panics
    assert not report.errors and not panics, report
    assert new_beats[-1].dirtied_mib > before.heartbeats[-1].dirtied_mib
    assert all(v.pages == spec.written_pages for v in new_sweeps), new_sweeps
    assert report.corrupt == 0, report.corrupt_pages
    return report
