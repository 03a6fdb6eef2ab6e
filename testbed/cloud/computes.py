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
"""libvirt mode: two nova-compute services running our driver on a HostPair.

Why each nova-compute enters its host's mount and UTS namespaces (through
the HostPair's anchor process) but not its network namespace: nova puts the
source's disk and console paths into the destination's domain XML, so
``instances_path`` must be the same string on both hosts while the storage
behind it is per host; ``/var`` is remapped in each host's mount namespace,
so ``/var/lib/nova/instances`` is exactly that. The UTS namespace makes
``hostname`` (and libvirt's getHostname, nova's hypervisor_hostname) the
host's name. The control plane listens on 127.0.0.1 of the root network
namespace only, which a process inside a host's network namespace could not
reach; nova-compute talks to its libvirtd over a unix socket, and the
libvirtds talk to each other (P2P migration) on the pair's addresses.
"""

import hashlib
import os
import subprocess

from nova_ext.core import loader
from testbed.cloud import install
from testbed.cloud import procs
from testbed.cloud.procs import CloudError
from testbed.cloud import render
from testbed.cloud import seed
from testbed.guest import disk
from testbed.guest import spec as guest_spec
from testbed import hostpkgs
from testbed import hosts

DRIVER = 'livemigrate.LibvirtDriver'
INSTANCES_PATH = '/var/lib/nova/instances'
REPO = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)
# name, vcpus, MiB, GB: the guest's RAM must match GuestSpec.mem_mib; the
# root disk (2 GiB) is block-migrated, and the guest checks its tail
FLAVOR = ('m1.lm', 1, 512, 2)
# One glance image per workload; the name says dirty MiB and MiB/s.
#: MiB/s: the first workload (64 MiB at 20 MiB/s) converges under it, the
#: second (64 MiB at 100 MiB/s) never does by itself
MIGRATION_CAP_MIB_S = 40

#: both also write the last 16 MiB of the root disk at 2 MiB/s (DISK lines
#: on the console), and check memory and disk at the suite's light rates
#: (guest_spec.LIGHT_CHECKS says why)
DISK = dict(disk_mib=16, disk_rate_mib_s=2)
WORKLOADS = tuple(
    guest_spec.GuestSpec(
        mem_mib=512,
        dirty_mib=64,
        dirty_rate_mib_s=rate,
        **DISK,
        **guest_spec.LIGHT_CHECKS,
    )
    for rate in (20, 100)
)


def pair_for(lo):
    """The HostPair of a libvirt-mode cloud, kept inside its work folder."""
    return hosts.HostPair(
        workdir=lo.path('pair'), prefix=lo.prefix, subnet=lo.subnet
    )


def pair_host(lo, host):
    """HostPair letter ('A' or 'B') of a nova host name."""
    return 'AB'[lo.compute_hosts.index(host)]


def pair_command(lo, pair, command, log):
    """Run ``python -m testbed.hosts COMMAND`` for the cloud's pair with the
    nova venv's interpreter: it has libvirt-python, which the interpreter
    running the cloud tool may lack (the pair warms libvirt's QEMU caps).

    :raises CloudError: naming the log, if the command fails.
    """
    argv = [
        lo.venv_bin('main', 'python'),
        '-m',
        'testbed.hosts',
        '--workdir',
        pair.workdir,
        '--prefix',
        pair.prefix,
        '--subnet',
        pair.subnet,
        command,
    ]
    procs.run_logged(
        argv,
        log,
        'libvirt-hosts',
        'python -m testbed.hosts %s failed' % command,
        cwd=REPO,
        env=dict(os.environ, PYTHONPATH=REPO),
    )


def pair_running(pair):
    """True when both hosts' anchors and libvirtds are alive."""
    return all(pair.anchor_pid(h) and pair.libvirtd_pid(h) for h in pair.HOSTS)


def conf_path(lo, host):
    return lo.path('etc', 'nova', 'compute-%s.conf' % host)


def privsep_helper(lo, host, extra=()):
    """oslo.privsep's helper command: no sudo here, and with helper_command
    set oslo.privsep does not pass the config files on by itself.
    """
    files = [lo.path('etc', 'nova', 'nova.conf'), conf_path(lo, host)]
    files += list(extra)
    return ' '.join(
        [lo.venv_bin('main', 'privsep-helper')]
        + ['--config-file %s' % f for f in files]
    )


def metrics_port(lo, host):
    """The port of one compute's migration metrics listener."""
    return lo.ports['metrics-%s' % pair_host(lo, host).lower()]


def compute_conf(lo, pair, host, extra=()):
    """compute-HOST.conf of one libvirt host."""
    letter = pair_host(lo, host)
    state = lo.path('state', host)
    helper = privsep_helper(lo, host, extra)
    return render.ini(
        {
            'DEFAULT': {
                'host': host,
                'my_ip': pair.address(letter),
                'compute_driver': DRIVER,
                # the libvirt driver keeps the node's compute_id here
                'state_path': state,
                # same string on both hosts, per-host storage (see above)
                'instances_path': INSTANCES_PATH,
            },
            'libvirt': {
                'virt_type': 'qemu',
                'connection_uri': pair.local_uri(letter),
                # what the source libvirtd dials for control and data
                'live_migration_inbound_addr': pair.address(letter),
                # a capped link, so that a guest dirtying fast enough
                # cannot converge by itself (the demo's point)
                'live_migration_bandwidth': MIGRATION_CAP_MIB_S,
                'live_migration_permit_post_copy': 'true',
            },
            'livemigrate': {
                'default_policy': 'nova',
                'user_selectable_policies': ','.join(
                    loader.available_policies()
                ),
                'metrics_listen_address': '127.0.0.1',
                'metrics_listen_port': metrics_port(lo, host),
            },
            'nova_sys_admin': {'helper_command': helper},
            'privsep_osbrick': {'helper_command': helper},
            'oslo_concurrency': {'lock_path': state + '/lock'},
        }
    )


def compute_files(lo, pair):
    return {
        'nova/compute-%s.conf' % h: compute_conf(lo, pair, h)
        for h in lo.compute_hosts
    }


def compute_argv(lo, pair, host, log, extra_conf=()):
    """nova-compute inside its host's mount and UTS namespaces.

    Also creates the host's instances folder: the pair's ``up`` lays each
    host's /var out afresh.
    """
    os.makedirs(
        os.path.join(
            pair.hostdir(pair_host(lo, host)), INSTANCES_PATH.lstrip('/')
        ),
        exist_ok=True,
    )
    anchor = pair.anchor_pid(pair_host(lo, host))
    if anchor is None:
        raise CloudError(
            'nova-compute-%s' % host,
            'libvirt host %s is not up' % pair.netns(pair_host(lo, host)),
        )
    argv = [lo.venv_bin('main', 'nova-compute')]
    for f in [lo.path('etc', 'nova', 'nova.conf'), conf_path(lo, host)]:
        argv += ['--config-file', f]
    for f in extra_conf:
        argv += ['--config-file', f]
    argv += ['--log-file', log]
    return [
        'nsenter',
        '--target',
        str(anchor),
        '--mount',
        '--uts',
        '--',
    ] + argv


# ------------------------------------------------------------ install
def nova_fingerprint(python):
    """Digest of nova's own installed files that a shim install could touch:
    its RECORD, the package __init__ files and the listing of nova/virt.
    """
    code = (
        'import hashlib,os,nova,importlib.metadata as m\n'
        'd=os.path.dirname(nova.__file__);h=hashlib.sha256()\n'
        'for p in ("__init__.py","virt/__init__.py"):\n'
        '    h.update(open(os.path.join(d,p),"rb").read())\n'
        'h.update(m.distribution("nova").read_text("RECORD").encode())\n'
        'h.update(" ".join(sorted(os.listdir(d+"/virt"))).encode())\n'
        'print(h.hexdigest())\n'
    )
    r = subprocess.run([python, '-c', code], capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else None


def _python_ok(python, code):
    return (
        subprocess.run(
            [python, '-c', code], capture_output=True, cwd='/'
        ).returncode
        == 0
    )


def _pip(python, args, log, what):
    procs.run_logged(
        [python, '-m', 'pip', 'install', '--disable-pip-version-check'] + args,
        log,
        'install',
        'pip install of %s failed' % what,
        env=dict(os.environ, PIP_NO_BINARY='libvirt-python'),
    )


def _uninstall_all(py, log, most=5):
    """Remove every install of ours from the nova venv first.

    pip replaces one installed copy; an editable install left by another
    checkout (two ``__editable__`` finders side by side, seen after
    interrupted runs) would otherwise keep shadowing the new one.
    """
    for _ in range(most):
        r = procs.run_logged(
            [py, '-m', 'pip', 'uninstall', '-y', 'osc-livemigrate'],
            log,
            'install',
            'pip uninstall of osc-livemigrate failed',
            ok=(0, 1),
            capture=True,
        )
        if 'Successfully uninstalled' not in r.stdout:
            return


def ensure_extras(lo, log, say=print):
    """Host packages, libvirt-python and our package in the nova venv.

    Our package goes in editable (so nova-compute runs the repository's
    nova_ext and the shim nova/virt/livemigrate.py); nova's own files are
    fingerprinted before and after, and a change stops the bring-up.
    :returns: True if anything was installed.
    """
    did = False
    if hostpkgs.missing_packages():
        say('installing the libvirt host packages')
        hostpkgs.install(log=say)
        did = True
    did |= install.ensure_apt(log, packages=disk.PACKAGES, say=say)
    py = lo.venv_bin('main', 'python')
    if not _python_ok(py, 'import libvirt'):
        say('building libvirt-python into the nova venv')
        _pip(
            py,
            ['--no-binary', 'libvirt-python', 'libvirt-python'],
            log,
            'libvirt-python',
        )
        did = True
    check = (
        'import nova.virt.livemigrate, nova_ext, os, sys; '
        'sys.exit(not nova_ext.__file__.startswith(%r))' % (REPO + os.sep)
    )
    if not _python_ok(py, check):
        say('installing %s (editable) into the nova venv' % REPO)
        before = nova_fingerprint(py)
        _uninstall_all(py, log)
        _pip(py, ['--no-deps', '-e', REPO], log, 'osc-livemigrate (editable)')
        after = nova_fingerprint(py)
        if before is None or before != after:
            raise CloudError(
                'install',
                "installing osc-livemigrate changed nova's own files "
                '(fingerprint %s -> %s)' % (before, after),
                log,
            )
        if not _python_ok(py, check):
            raise CloudError(
                'install',
                'nova.virt.livemigrate does not import from %s after the '
                'editable install' % REPO,
                log,
            )
        did = True
    return did


# ------------------------------------------------------------ images
def seed_key():
    """Short hash of the guest flavor and workload images a cloud needs
    (their names and what they boot: a changed check rate re-seeds).
    """
    text = repr(
        (
            FLAVOR,
            [
                (disk.image_name(s), guest_spec.kernel_cmdline(s))
                for s in WORKLOADS
            ],
        )
    )
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def ensure_images(conn, log=print):
    """Build and register every workload's disk; return {name: image id}.

    :param conn: an admin openstacksdk connection.
    """
    out = {}
    for spec in WORKLOADS:
        name = disk.image_name(spec)
        cmdline = guest_spec.kernel_cmdline(spec)
        found = seed.find(conn.image.find_image, name)
        if found is not None and _stale(found, cmdline):
            # NOTE: the name says the workload's size and rate, not every
            # field: an image made for other check rates is replaced
            log('replacing image %s: it boots %r' % (name, _booted(found)))
            conn.image.delete_image(found)
            found = None
        if found is None or found.status != 'active':
            with open(disk.build_disk(spec, log=log), 'rb') as f:
                found = seed.upload_image(
                    conn,
                    name,
                    f.read(),
                    found,
                    min_ram=spec.mem_mib,
                    livemigrate_workload=cmdline,
                )
        out[name] = found.id
    return out


def _booted(image):
    return (image.properties or {}).get('livemigrate_workload')


def _stale(image, cmdline):
    """True for an uploaded image whose recorded workload is not
    ``cmdline`` (a queued one is uploaded into as it is).
    """
    return image.status == 'active' and _booted(image) != cmdline
