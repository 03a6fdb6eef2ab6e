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
"""A post-copy given up on, then deleted, through nova and the CLI.

The link between the hosts is cut during post-copy and stays cut; the
kernel ends the migration's TCP connection within seconds
(``tcp_retries2=3`` in both hosts), so the stream cannot come back, and
the recovery window (30 s here, 1200 s by default) ends. The server must
be ERROR with the fault that says where the guest is, with both halves
kept; ``openstack server delete`` must then leave nothing on either host.

nova deletes through the server's host, the source: its half goes at
once. The destination's half is a domain and a folder of a server nova
has deleted; nova's own periodic tasks on the destination remove them
(``_cleanup_running_deleted_instances`` with the default
``running_deleted_instance_action = reap`` every
``running_deleted_instance_poll_interval``, 1800 s by default, and
``_cleanup_incomplete_migrations`` every ``instance_delete_interval``,
300 s, for a migration in ``error``). This test runs them every 10 s.
"""

import os
import time

from testbed.cloud import computes
from testbed import libvirtd
from tests.functional.cloud import faults
from tests.functional.cloud import servers

BUSY = computes.WORKLOADS[1]
#: post-copy's own cap (MiB/s), low enough that the link can be cut while
#: pages still flow
POSTCOPY_CAP_MIB_S = 5
WINDOW_S = 30
#: nova's periodic clean-ups of deleted servers, every this many seconds
REAP_S = 10
OPTIONS = {
    'livemigrate': {'postcopy_recovery_window_s': WINDOW_S},
    'DEFAULT': {
        'running_deleted_instance_poll_interval': REAP_S,
        'instance_delete_interval': REAP_S,
    },
}


def test_a_lost_postcopy_is_error_and_delete_leaves_nothing(libvirt_cloud):
    c = libvirt_cloud
    lv = libvirtd.load_libvirt()
    src, dst = c.hosts
    src_letter, dst_letter = (servers.host_letter(c, h) for h in (src, dst))
    c.reconfigure(compute=OPTIONS)
    faults.tcp_retries2(c, 3)
    proc = sid = None
    try:
        sid = servers.boot(c, BUSY, 'lm-pclost', src)
        servers.active(c, sid, src)
        servers.heartbeats(c, sid, 2)
        dom = faults.domain(c, sid, src)
        faults.cap_postcopy(lv, dom, POSTCOPY_CAP_MIB_S)
        proc, m, cut = faults.migrate_and_cut_at_postcopy(
            c, lv, sid, dom, dst, guest_on_dst=True
        )
        assert cut, 'post-copy did not start within 60 s'
        t_cut = time.monotonic()
        # keepalive (~30 s) + the window: then nova's record says ERROR
        shown = servers.wait_for(
            'server %s in ERROR' % sid,
            lambda: (lambda s: s if s['status'] == 'ERROR' else None)(
                servers.show(c, sid)
            ),
            WINDOW_S + 150,
            every=2,
        )
        error_s = time.monotonic() - t_cut
        out, err = proc.communicate(timeout=120)
        text = out[-4000:] + err[-3000:]
        result = [
            ln for ln in servers.json_lines(out) if ln['type'] == 'result'
        ]
        assert proc.returncode != 0 and len(result) == 1, text
        assert result[0]['ok'] is False, result
        fault = (shown.get('fault') or {}).get('message', '')
        assert fault.startswith('Post-copy live migration lost %s' % dst), (
            shown
        )
        assert 'both kept' in fault, fault
        assert shown['OS-EXT-SRV-ATTR:host'] == src, shown
        last = servers.latest(c, sid)
        assert last['Id'] == m['Id'] and last['Status'] == 'error', last
        # both halves kept, and the kernel did end the migration's stream
        for letter in (src_letter, dst_letter):
            assert sid in servers.domains(c, letter), (letter, sid)
            sockets = faults.qemu_sockets(c, letter)
            assert sockets == [], sockets
        assert tuple(dom.state()) == faults.postcopy_failed(lv), dom.state()
        print('\nERROR %.0f s after the cut; fault: %s' % (error_s, fault))

        t_delete = time.monotonic()
        servers.delete(c, sid)
        deleted_s = time.monotonic() - t_delete
        # nova's delete went through the source: its half is gone now
        assert sid not in servers.domains(c, src_letter)
        assert not os.path.exists(servers.instance_dir(c, src, sid))
        # the destination's, once nova's periodic tasks there have run
        servers.wait_for(
            'the destination half of %s removed by nova' % sid,
            lambda: (
                sid not in servers.domains(c, dst_letter)
                and not os.path.exists(servers.instance_dir(c, dst, sid))
            ),
            6 * REAP_S + 60,
            every=2,
        )
        reaped_s = time.monotonic() - t_delete
        servers.assert_nothing_left(c, sid)
        assert c.openstack_json('port', 'list', '--device-id', sid) == []
        orphans = c.orphaned_allocations()
        assert sid not in orphans and last['UUID'] not in orphans, orphans
        print(
            'delete took %.0f s; the destination half was gone %.0f s after '
            'it (nova periodic tasks every %d s); orphaned allocations %s'
            % (deleted_s, reaped_s, REAP_S, orphans)
        )
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        faults.restore_link(c, dst)
        faults.tcp_retries2(c, 15)
        if sid is not None:
            servers.delete(c, sid)  # a no-op when the test got that far
        c.reconfigure()
