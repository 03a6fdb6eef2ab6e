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
"""``compute host drain`` on real guests: every guest moved with its
memory intact (0 corrupt pages), a re-run changes nothing.
"""

import json
import time

from testbed.cloud import computes
from testbed.cloud import session
from tests.functional.cloud import servers

SMALL = computes.WORKLOADS[0]


def test_drain_moves_every_guest_and_rerun_changes_nothing(libvirt_cloud):
    c = libvirt_cloud
    # a host none but our servers run on: the demo's guest stays put
    src, dst = session.drain_hosts(c)
    stamp = int(time.time())
    sids = []
    try:
        for i in range(3):
            sids.append(
                servers.boot(c, SMALL, 'lm-cli-drain-%d-%d' % (stamp, i), src)
            )
        for sid in sids:
            servers.active(c, sid, src)
        mine = set(sids)
        others = [
            s
            for s in c.openstack_json(
                'server', 'list', '--all-projects', '--host', src
            )
            if s['ID'] not in mine
        ]
        assert not others, 'other servers on %s: %s' % (src, others)
        t0 = time.monotonic()
        r = c.openstack(
            'compute',
            'host',
            'drain',
            src,
            '--enable-after',
            '--poll-interval',
            '1',
            '-f',
            'json',
            check=False,
            timeout=900,
        )
        took = time.monotonic() - t0
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        rows = json.loads(r.stdout)
        names = {servers.show(c, s)['name']: s for s in sids}
        assert sorted(row['Server'] for row in rows) == sorted(names), rows
        for row in rows:
            assert row['Result'] == 'migrated', rows
            assert row['Destination'] == dst, rows
        for sid in sids:
            status, host, _ = servers.where(c, sid)
            assert (status, host) == ('ACTIVE', dst), (sid, status, host)
            assert sid in servers.domains(c, servers.host_letter(c, dst))
            assert sid not in servers.domains(c, servers.host_letter(c, src))
            assert [m['Status'] for m in servers.migrations(c, sid)] == [
                'completed'
            ]
        # every guest runs on with its memory intact: two heartbeats and two
        # VERIFY sweeps on the destination (its console starts there; the
        # second sweep read only after the move), no corrupt page, no
        # error, no panic
        sweeps = 0
        for sid in sids:
            rep = servers.wait_for(
                'two heartbeats and two VERIFY sweeps of %s on %s'
                % (sid, dst),
                lambda sid=sid: _verified(servers.console(c, sid)),
                120,
                every=2,
            )
            assert not rep.errors and not rep.panics, rep
            assert rep.corrupt == 0, rep
            assert all(v.corrupt == 0 for v in rep.verifies), rep.verifies
            sweeps += len(rep.verifies)
        # the host was disabled before its first migration and, with
        # --enable-after, is enabled again once empty
        assert 'Disabled nova-compute on %s' % src in r.stderr, r.stderr
        assert _service(c, src)['Status'] == 'enabled'
        # re-run: nothing left to do, nothing started
        r2 = c.openstack(
            'compute',
            'host',
            'drain',
            src,
            '--enable-after',
            '-f',
            'json',
            check=False,
        )
        assert r2.returncode == 0, r2.stdout + r2.stderr
        assert json.loads(r2.stdout) == [], r2.stdout
        for sid in sids:
            assert [m['Status'] for m in servers.migrations(c, sid)] == [
                'completed'
            ]
            assert servers.where(c, sid)[:2] == ('ACTIVE', dst)
        print(
            '\ndrain of 3 guests took %.1f s; on %s: %d VERIFY sweeps, '
            '0 corrupt pages' % (took, dst, sweeps)
        )
    finally:
        # a drain that failed half-way leaves its host disabled: the next
        # tests need both hosts
        c.openstack(
            'compute',
            'service',
            'set',
            '--enable',
            src,
            'nova-compute',
            check=False,
        )
        for sid in sids:
            servers.delete(c, sid)
    for sid in sids:
        servers.assert_nothing_left(c, sid)


def _service(c, host):
    return c.openstack_json(
        'compute',
        'service',
        'list',
        '--host',
        host,
        '--service',
        'nova-compute',
    )[0]


def _verified(report):
    """The console report once it has two heartbeats and two VERIFY
    sweeps.
    """
    if len(report.heartbeats) >= 2 and len(report.verifies) >= 2:
        return report
    return None
