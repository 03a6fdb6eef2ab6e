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
"""Real nova-compute processes load our driver through ``compute_driver`` and
get through init_host against real libvirtds; a bad ``[livemigrate]`` option
stops one at start with one line.

Why a whole cloud: nova-compute reaches its driver only after it has talked to
the conductor over the message bus, and "init_host finished" is only visible
as a service that nova-api reports up with a hypervisor listed.
"""

import os
import subprocess

from testbed.cloud import computes

DRIVER_LINE = "Loading compute driver 'livemigrate.LibvirtDriver'"


def _ns(pid, kind):
    return os.readlink('/proc/%d/ns/%s' % (pid, kind))


def test_both_computes_load_our_driver(libvirt_cloud):
    c = libvirt_cloud
    for host in c.hosts:
        with open(c.layout.log('nova-compute-%s' % host)) as f:
            log = f.read()
        assert DRIVER_LINE in log, (
            'nova-compute-%s never loaded our driver' % host
        )


def test_both_computes_are_up_with_a_qemu_hypervisor(libvirt_cloud):
    c = libvirt_cloud
    services = c.openstack_json(
        'compute', 'service', 'list', '--service', 'nova-compute'
    )
    state = {s['Host']: (s['Status'], s['State']) for s in services}
    for host in c.hosts:
        assert state.get(host) == ('enabled', 'up'), state
    hyps = c.openstack_json('hypervisor', 'list', '--long')
    by_name = {h['Hypervisor Hostname']: h for h in hyps}
    for host in c.hosts:
        letter = computes.pair_host(c.layout, host)
        assert host in by_name, 'no hypervisor %s in %s' % (host, hyps)
        assert by_name[host]['Hypervisor Type'] == 'QEMU'
        assert by_name[host]['Host IP'] == c.pair.address(letter)
        assert by_name[host]['State'] == 'up'


def test_each_compute_lives_in_its_hosts_mount_and_uts_namespace(
    libvirt_cloud,
):
    c = libvirt_cloud
    for host in c.hosts:
        letter = computes.pair_host(c.layout, host)
        pid = c.table.pid('nova-compute-%s' % host)
        anchor = c.pair.anchor_pid(letter)
        assert pid and anchor
        for kind in ('mnt', 'uts'):
            assert _ns(pid, kind) == _ns(anchor, kind), (host, kind)
        # the control plane is on the root namespace's loopback
        assert _ns(pid, 'net') == _ns(os.getpid(), 'net')


def _start_bad_compute(c, tmp_path, text):
    """Run one more nova-compute of host A with an extra config file."""
    conf = tmp_path / 'bad.conf'
    # its own host name, so nothing of lmcA's is touched if it got far
    conf.write_text(
        '[DEFAULT]\nhost = %s-badconf\n%s' % (c.layout.prefix, text)
    )
    log = str(tmp_path / 'nova-compute-bad.log')
    argv = computes.compute_argv(
        c.layout, c.pair, c.hosts[0], log, extra_conf=[str(conf)]
    )
    r = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
        env=c.supervisor.env(),
    )
    with open(log) as f:
        return r, f.read()


def test_invalid_default_policy_stops_compute_with_one_line(
    libvirt_cloud, tmp_path
):
    r, log = _start_bad_compute(
        libvirt_cloud, tmp_path, '[livemigrate]\ndefault_policy = no-such\n'
    )
    assert DRIVER_LINE in log, log[-2000:]
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert r.returncode == 1, (r.returncode, r.stderr[-2000:])
    assert len(lines) == 1, r.stderr[-2000:]
    assert lines[0].startswith('nova-compute: invalid configuration'), lines
    assert '[livemigrate]' in lines[0] and "'no-such'" in lines[0], lines
    assert 'Traceback' not in r.stderr


def test_invalid_policy_line_names_the_option(libvirt_cloud, tmp_path):
    """The operator must learn which option to fix, not only the group."""
    r, _ = _start_bad_compute(
        libvirt_cloud, tmp_path, '[livemigrate]\ndefault_policy = no-such\n'
    )
    assert r.returncode == 1, r.stderr[-2000:]
    assert 'default_policy' in r.stderr, (
        'the one line does not name [livemigrate] default_policy '
        '(nova_ext/conf.py validate() prefixes only the group): %s'
        % r.stderr.strip()
    )
