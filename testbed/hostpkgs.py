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
"""Install the Debian packages the real-host test bed needs, idempotently.

Why backports on Debian 12: bookworm's QEMU 7.2 corrupts TCG guests on
multi-pass migrations (fixed upstream in QEMU 9.0), so QEMU 10 and libvirt
11 come from bookworm-backports there; Debian 13 has them in its main archive.
"""

import glob
import os
import re
import subprocess
import sys

# QEMU + libvirt (backports on Debian 12); qemu-utils gives nova qemu-img.
HYPERVISOR_PACKAGES = (
    'qemu-system-x86',
    'qemu-utils',
    'libvirt-daemon',
    'libvirt-daemon-driver-qemu',
    'libvirt-clients',
    'libvirt-dev',
)
# Static guest program and libvirt-python compiled from source.
BUILD_PACKAGES = (
    'gcc',
    'libc6-dev',
    'pkg-config',
    'python3-dev',
    'python3-venv',
    'iproute2',
    'util-linux',
    # NOTE: the guest's boot disk (testbed.guest.disk.PACKAGES); its tests
    # run before any cloud installs them, so the host set-up brings them.
    'syslinux',
    'syslinux-common',
    'mtools',
    'dosfstools',
)
# Tools tests run against what the driver exposes: Prometheus and its
# promtool (tests/functional/nova_ext/test_metrics_promtool.py and the
# cloud's scrape test).
TOOL_PACKAGES = ('prometheus',)
MIN_QEMU = (9, 0)
MIN_LIBVIRT = (10, 0)
BACKPORTS_FILE = '/etc/apt/sources.list.d/osc-livemigrate-backports.sources'


def debian_major(path='/etc/debian_version'):
    """Return Debian's major release number (12, 13, ...).

    :param path: file holding the version, e.g. ``12.11`` or ``trixie/sid``.
    :returns: int major version.
    :raises RuntimeError: when the machine is not a Debian we know.
    """
    try:
        with open(path) as f:
            text = f.read().strip()
    except OSError as exc:
        raise RuntimeError('not a Debian machine (%s)' % exc) from exc
    match = re.match(r'(\d+)', text)
    if match:
        return int(match.group(1))
    if text.startswith('trixie'):
        return 13
    raise RuntimeError('unknown Debian version %r in %s' % (text, path))


def _apt_sources():
    """Yield (uri, suites, components) for every configured apt source."""
    for path in glob.glob('/etc/apt/sources.list.d/*.sources'):
        with open(path) as f:
            stanzas = f.read().split('\n\n')
        for stanza in stanzas:
            fields = dict(re.findall(r'^(\w[\w-]*):\s*(.*)$', stanza, re.M))
            if fields.get('Enabled', 'yes').lower() == 'no':
                continue
            for uri in fields.get('URIs', '').split():
                yield (
                    uri,
                    fields.get('Suites', '').split(),
                    fields.get('Components', '').split(),
                )
    for path in ['/etc/apt/sources.list'] + glob.glob(
        '/etc/apt/sources.list.d/*.list'
    ):
        if not os.path.exists(path):
            continue
        with open(path) as f:
            lines = f.readlines()
        for line in lines:
            words = re.sub(r'\[[^]]*\]', '', line.split('#')[0]).split()
            if len(words) >= 3 and words[0] == 'deb':
                yield words[1], [words[2]], words[3:]


def backports_source(sources):
    """Return the deb822 stanza that adds bookworm-backports, or None.

    The mirror is the one already used for the bookworm suite, so no host
    name is hard-coded here.

    :param sources: iterable of (uri, suites, components).
    :returns: stanza text, or None when backports is already configured.
    :raises RuntimeError: when no bookworm mirror is configured at all.
    """
    mirror = None
    for uri, suites, _components in sources:
        if 'bookworm-backports' in suites:
            return None
        if 'bookworm' in suites and mirror is None:
            mirror = uri
    if mirror is None:
        raise RuntimeError(
            'no apt source for the bookworm suite; add '
            'bookworm-backports to the apt sources by hand'
        )
    return (
        'Types: deb\nURIs: %s\nSuites: bookworm-backports\n'
        'Components: main\n'
        'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' % mirror
    )


def _version(cmd):
    """Return the first x.y version a command prints, or None if absent."""
    try:
        out = subprocess.run(
            cmd, capture_output=True, text=True, check=False
        ).stdout
    except OSError:
        return None
    match = re.search(r'(\d+)\.(\d+)', out)
    return (int(match.group(1)), int(match.group(2))) if match else None


def _installed(package):
    """Say whether dpkg has ``package`` fully installed."""
    out = subprocess.run(
        ['dpkg-query', '-W', '-f=${Status}', package],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return out.strip() == 'install ok installed'


def missing_packages():
    """Return the packages to (re)install; empty when the host is ready."""
    missing = [
        p
        for p in HYPERVISOR_PACKAGES + BUILD_PACKAGES + TOOL_PACKAGES
        if not _installed(p)
    ]
    qemu = _version(['qemu-system-x86_64', '--version'])
    libvirt = _version(['libvirtd', '--version'])
    if (qemu or (0, 0)) < MIN_QEMU or (libvirt or (0, 0)) < MIN_LIBVIRT:
        missing += [p for p in HYPERVISOR_PACKAGES if p not in missing]
    return missing


def ensure_qemu_user():
    """Create kvm and libvirt-qemu if a postinst did not.

    libvirtd's QEMU driver refuses to start without the libvirt-qemu user
    even when qemu.conf says user = "root".
    """

    def run(*cmd):
        subprocess.run(cmd, check=True)

    if subprocess.run(
        ['getent', 'group', 'kvm'], capture_output=True
    ).returncode:
        run('groupadd', '--system', 'kvm')
    if subprocess.run(
        ['getent', 'group', 'libvirt-qemu'], capture_output=True
    ).returncode:
        run('groupadd', '--system', 'libvirt-qemu')
    if subprocess.run(
        ['getent', 'passwd', 'libvirt-qemu'], capture_output=True
    ).returncode:
        run(
            'useradd',
            '--system',
            '-g',
            'libvirt-qemu',
            '-G',
            'kvm',
            '-d',
            '/var/lib/libvirt',
            '-s',
            '/usr/sbin/nologin',
            'libvirt-qemu',
        )


def install(log=print):
    """Install whatever is missing; do nothing on a ready host.

    :param log: callable taking one line of progress text.
    :returns: list of packages that were installed (empty if none).
    :raises RuntimeError: on an unknown Debian release or a failed apt run.
    """
    if os.geteuid() != 0:
        raise RuntimeError('installing packages needs root')
    major = debian_major()
    if major < 12:
        raise RuntimeError(
            'Debian %d is too old: need 12 (with backports) or newer' % major
        )
    missing = missing_packages()
    if missing:
        env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
        apt = [
            'apt-get',
            '-q',
            '-y',
            '-o',
            'Dpkg::Use-Pty=0',
            '--no-install-recommends',
        ]
        target = []
        if major == 12:
            stanza = backports_source(_apt_sources())
            if stanza:
                log('adding bookworm-backports: %s' % BACKPORTS_FILE)
                with open(BACKPORTS_FILE, 'w') as out:
                    out.write(stanza)
            target = ['-t', 'bookworm-backports']
        log('apt-get update')
        subprocess.run(['apt-get', '-q', 'update'], env=env, check=True)
        hyper = [p for p in missing if p in HYPERVISOR_PACKAGES]
        build = [p for p in missing if p not in HYPERVISOR_PACKAGES]
        if hyper:
            log('installing %s' % ' '.join(hyper))
            subprocess.run(
                apt + target + ['install'] + hyper, env=env, check=True
            )
        if build:
            log('installing %s' % ' '.join(build))
            subprocess.run(apt + ['install'] + build, env=env, check=True)
    ensure_qemu_user()
    still = missing_packages()
    if still:
        raise RuntimeError('still missing after install: %s' % ' '.join(still))
    return missing


def main():
    """Install, then print the versions found."""
    done = install(log=lambda line: print(line, file=sys.stderr))
    print('installed: %s' % (' '.join(done) or 'nothing, all present'))
    print(
        'qemu %d.%d, libvirt %d.%d'
        % (
            _version(['qemu-system-x86_64', '--version'])
            + _version(['libvirtd', '--version'])
        )
    )


if __name__ == '__main__':
    main()
