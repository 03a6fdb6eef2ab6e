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
"""Build the guest kernel + initramfs once, cached by a hash of every input.

Why from Debian packages: the machine may reach Debian's archive and PyPI but
nothing else, and a stock cloud kernel boots under TCG in a few seconds.
The initramfs is written here (newc cpio, fixed owners and times, gzip with
mtime 0) so the same inputs give byte-identical images.
"""

import argparse
import dataclasses
import glob
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(HERE, 'dirtier.c')
# Compiled together into /init; the header is an input too.
SOURCES = (SOURCE, os.path.join(HERE, 'diskcheck.c'))
HEADERS = (os.path.join(HERE, 'diskcheck.h'),)
# The cloud kernel builds virtio-blk as modules; diskcheck.c loads these
# from /lib/modules when the guest has a disk to check.
MODULES = (
    'drivers/virtio/virtio_ring.ko',
    'drivers/virtio/virtio.ko',
    'drivers/virtio/virtio_pci_modern_dev.ko',
    'drivers/virtio/virtio_pci_legacy_dev.ko',
    'drivers/virtio/virtio_pci.ko',
    'drivers/block/virtio_blk.ko',
)
KERNEL_META = 'linux-image-cloud-amd64'
CACHE_ENV = 'OSC_LM_CACHE'


@dataclasses.dataclass(frozen=True)
class GuestImage:
    """Paths of a built guest and the inputs it was built from."""

    kernel: str
    initrd: str
    key: str
    manifest: dict


def cache_root():
    """Return $OSC_LM_CACHE, else ~/.cache/osc-livemigrate."""
    return os.environ.get(CACHE_ENV) or os.path.join(
        os.path.expanduser('~'), '.cache', 'osc-livemigrate'
    )


def _run(cmd, **kwargs):
    return subprocess.run(
        cmd, check=True, capture_output=True, text=True, **kwargs
    ).stdout


def kernel_package():
    """Return (name, version) of the cloud kernel the meta-package points to.

    :raises RuntimeError: if apt knows no such package, even after an
        apt-get update.
    """
    name = os.environ.get('OSC_LM_GUEST_KERNEL')
    if not name:
        match = None
        for attempt in range(2):
            if attempt:  # apt lists may be missing on a fresh machine
                _run(['apt-get', '-q', 'update'])
            deps = subprocess.run(
                ['apt-cache', 'depends', KERNEL_META],
                capture_output=True,
                text=True,
            ).stdout
            match = re.search(r'Depends: (linux-image-\S+)', deps)
            if match:
                break
        if not match:
            raise RuntimeError('apt knows no %s' % KERNEL_META)
        name = match.group(1)
    show = _run(['apt-cache', 'show', '--no-all-versions', name])
    return name, re.search(r'^Version: (\S+)', show, re.M).group(1)


def input_key(kernel, source_text, builder_text, compiler):
    """Hash every input of the build into a short cache key.

    :param kernel: (package, version) of the guest kernel.
    :param source_text: text of dirtier.c, diskcheck.c and its header.
    :param builder_text: text of this module (the build recipe itself).
    :param compiler: first line of ``gcc --version``.
    :returns: 16 hex digits.
    """
    digest = hashlib.sha256()
    for part in ('%s=%s' % kernel, source_text, builder_text, compiler):
        digest.update(part.encode() + b'\0')
    return digest.hexdigest()[:16]


def _cpio_entry(name, mode, data=b'', rdev=(0, 0), ino=0):
    """One newc cpio record with owner root and mtime 0."""
    fields = (
        ino,
        mode,
        0,
        0,
        1,
        0,
        len(data),
        0,
        0,
        rdev[0],
        rdev[1],
        len(name) + 1,
        0,
    )
    head = b'070701' + b''.join(b'%08X' % f for f in fields)
    blob = head + name.encode() + b'\0'
    blob += b'\0' * (-len(blob) % 4)
    return blob + data + b'\0' * (-len(data) % 4)


def make_initramfs(init_binary, modules=()):
    """Return a gzip'd newc archive holding /init, /dev/console and /proc.

    :param init_binary: bytes of the static init program.
    :param modules: ``(name, bytes)`` of kernel modules for /lib/modules.
    :returns: bytes, identical for identical input.
    """
    out = io.BytesIO()
    entries = [
        ('dev', 0o040755, b'', (0, 0)),
        ('dev/console', 0o020600, b'', (5, 1)),
        ('init', 0o100755, init_binary, (0, 0)),
        ('proc', 0o040755, b'', (0, 0)),
    ]
    if modules:
        entries += [
            ('lib', 0o040755, b'', (0, 0)),
            ('lib/modules', 0o040755, b'', (0, 0)),
        ]
        entries += [
            ('lib/modules/' + name, 0o100644, data, (0, 0))
            for name, data in modules
        ]
    for ino, (name, mode, data, rdev) in enumerate(entries, start=1):
        out.write(_cpio_entry(name, mode, data, rdev, ino))
    out.write(_cpio_entry('TRAILER!!!', 0))
    raw = out.getvalue() + b'\0' * (-len(out.getvalue()) % 512)
    return gzip.compress(raw, compresslevel=6, mtime=0)


def _sha256(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def build(cache_dir=None, log=print):
    """Return the guest image, building it only if its inputs changed.

    :param cache_dir: where images live (default: :func:`cache_root`/guest).
    :param log: callable taking one line of progress text.
    :returns: :class:`GuestImage`.
    :raises RuntimeError: when apt, dpkg or gcc fail.
    """
    cache_dir = cache_dir or os.path.join(cache_root(), 'guest')
    kernel = kernel_package()
    compiler = _run(['gcc', '--version']).splitlines()[0]
    source_text = ''
    for path in SOURCES + HEADERS:
        with open(path) as f:
            source_text += f.read()
    with open(os.path.abspath(__file__)) as f:
        builder_text = f.read()
    key = input_key(kernel, source_text, builder_text, compiler)
    final = os.path.join(cache_dir, key)
    manifest_path = os.path.join(final, 'manifest.json')
    if os.path.exists(manifest_path):
        with open(manifest_path) as f:
            manifest = json.load(f)
        return GuestImage(
            os.path.join(final, 'vmlinuz'),
            os.path.join(final, 'initrd.img'),
            key,
            manifest,
        )
    os.makedirs(cache_dir, exist_ok=True)
    work = tempfile.mkdtemp(prefix='build-', dir=cache_dir)
    try:
        log('downloading %s %s' % kernel)
        try:
            _run(
                [
                    'apt-get',
                    'download',
                    '-q',
                    '-o',
                    'APT::Sandbox::User=root',
                    '%s=%s' % kernel,
                ],
                cwd=work,
            )
            deb = glob.glob(os.path.join(work, '*.deb'))[0]
            _run(['dpkg-deb', '-x', deb, os.path.join(work, 'x')])
            log('compiling dirtier.c (%s)' % compiler)
            _run(
                [
                    'gcc',
                    '-static',
                    '-O2',
                    '-Wall',
                    '-o',
                    os.path.join(work, 'init'),
                ]
                + list(SOURCES)
            )
        except subprocess.CalledProcessError as exc:
            raise RuntimeError(
                '%s failed: %s' % (' '.join(exc.cmd), exc.stderr.strip())
            ) from exc
        vmlinuz = glob.glob(os.path.join(work, 'x/boot/vmlinuz-*'))[0]
        out = os.path.join(work, 'out')
        os.mkdir(out)
        shutil.copyfile(vmlinuz, os.path.join(out, 'vmlinuz'))
        modules = []
        for rel in MODULES:
            found = glob.glob(
                os.path.join(work, 'x/lib/modules/*/kernel', rel)
            )
            if not found:
                raise RuntimeError('%s lacks %s' % (kernel[0], rel))
            with open(found[0], 'rb') as f:
                modules.append((os.path.basename(rel), f.read()))
        with open(os.path.join(work, 'init'), 'rb') as f:
            initrd = make_initramfs(f.read(), modules)
        with open(os.path.join(out, 'initrd.img'), 'wb') as f:
            f.write(initrd)
        manifest = {
            'kernel_package': kernel[0],
            'kernel_version': kernel[1],
            'compiler': compiler,
            'key': key,
            'vmlinuz_sha256': _sha256(os.path.join(out, 'vmlinuz')),
            'initrd_sha256': hashlib.sha256(initrd).hexdigest(),
        }
        with open(os.path.join(out, 'manifest.json'), 'w') as f:
            json.dump(manifest, f, indent=1, sort_keys=True)
        for name in os.listdir(out):
            os.chmod(os.path.join(out, name), 0o644)
        try:
            os.rename(out, final)
        except OSError:
            if not os.path.exists(manifest_path):  # lost a race: keep winner
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return build(cache_dir, log)


def main(argv=None):
    """Build (or find) the guest and print its paths as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--cache-dir', help='default: %s/guest' % cache_root())
    args = parser.parse_args(argv)
    image = build(
        args.cache_dir, log=lambda line: print(line, file=sys.stderr)
    )
    print(json.dumps(dataclasses.asdict(image), indent=1))


if __name__ == '__main__':
    main()
