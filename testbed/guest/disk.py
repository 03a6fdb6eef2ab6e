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
"""Bootable raw disk images of the test guest, one per workload, for glance.

Why a whole disk and not kernel + ramdisk images: nova re-downloads a
guest's kernel and ramdisk on a block-migration destination through
``images.fetch_to_raw``, which deep-inspects them, and a bzImage carries
the 0xAA55 boot signature without a valid partition table, so the
inspector calls it ``gpt`` and rejects it. A raw disk with a real MBR (one
bootable FAT partition holding SYSLINUX, the kernel, the initramfs and a
``syslinux.cfg`` with the workload's kernel command line) passes nova's
checks on spawn and on the destination, with no workaround switched off.

Layout: sector 0 is SYSLINUX's ``mbr.bin`` with one partition entry
(bootable, type 0x0e FAT16 LBA, starting at 1 MiB); the partition is made
with ``mkfs.fat``, filled with ``mcopy`` and made bootable with the mtools
``syslinux`` installer, so nothing is loop-mounted. Built from Debian
packages (syslinux, syslinux-common, mtools, dosfstools) and cached by a
hash of every input, like ``testbed.guest.build``.
"""

import argparse
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

from testbed.guest import build as guest_build
from testbed.guest import spec as guest_spec

PACKAGES = ('syslinux', 'syslinux-common', 'mtools', 'dosfstools')
MBR_BIN = '/usr/lib/syslinux/mbr/mbr.bin'
SECTOR = 512
PART_START = 2048  # sectors: the partition starts at 1 MiB, as fdisk would
PART_TYPE = 0x0E  # FAT16 with LBA addressing
SLACK_MIB = 2  # free room in the FAT partition beyond kernel + initramfs


def image_name(spec):
    """Return the glance image name of a workload, e.g. ``lm-d64-r100``.

    A phased workload adds ``-p`` and 8 hex digits of its schedule.
    """
    name = 'lm-d%d-r%d' % (spec.dirty_mib, spec.dirty_rate_mib_s)
    if spec.fill_mib:
        name += '-f%d' % spec.fill_mib
    if spec.inject_corrupt:
        name += '-c%d' % spec.inject_corrupt
    if spec.disk_mib:  # a checked disk region of that many MiB
        name += '-k%d' % spec.disk_mib
    if spec.schedule is not None:  # r is the mean rate: tell schedules apart
        text = spec.schedule.cmdline().encode()
        name += '-p%s' % hashlib.sha256(text).hexdigest()[:8]
    return name


def syslinux_cfg(cmdline):
    """Return syslinux.cfg that boots at once with ``cmdline``."""
    return (
        'DEFAULT dirtier\nPROMPT 0\nTIMEOUT 0\n'
        'LABEL dirtier\n  LINUX /vmlinuz\n  INITRD /initrd.img\n'
        '  APPEND %s\n' % cmdline
    )


def mbr(boot_code, part_sectors, start=PART_START, ptype=PART_TYPE):
    """Return sector 0: boot code, one bootable partition entry, signature.

    CHS fields say "use LBA" (0xFE/0xFF/0xFF), as for any disk too big for
    CHS; the safety check in oslo.utils looks at the boot flag and type.

    :param boot_code: up to 440 bytes (SYSLINUX's mbr.bin).
    :param part_sectors: size of the partition in sectors.
    """
    if len(boot_code) > 440:
        raise ValueError(
            'MBR boot code is %d bytes, more than 440' % len(boot_code)
        )
    lba_chs = b'\xfe\xff\xff'
    entry = (
        b'\x80'
        + lba_chs
        + bytes([ptype])
        + lba_chs
        + struct.pack('<II', start, part_sectors)
    )
    sector = (
        boot_code.ljust(440, b'\0')
        + b'LMC1'
        + b'\0\0'
        + entry
        + b'\0' * 48
        + b'\x55\xaa'
    )
    assert len(sector) == SECTOR
    return sector


def missing_tools():
    """Return the Debian packages whose programs or files are absent."""
    missing = []
    for pkg, probe in (
        ('syslinux', 'syslinux'),
        ('mtools', 'mcopy'),
        ('dosfstools', 'mkfs.fat'),
    ):
        if shutil.which(probe) is None:
            missing.append(pkg)
    if not os.path.exists(MBR_BIN):
        missing.append('syslinux-common')
    return missing


def _run(argv):
    try:
        subprocess.run(
            argv,
            check=True,
            capture_output=True,
            text=True,
            env=dict(os.environ, MTOOLS_SKIP_CHECK='1'),
        )
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(
            '%s failed (exit %d): %s'
            % (
                ' '.join(argv),
                exc.returncode,
                (exc.stderr or exc.stdout).strip()[-500:],
            )
        ) from exc


def build_disk(spec, cache_dir=None, log=print):
    """Return the path of the workload's raw disk, building it if needed.

    :param spec: :class:`testbed.guest.spec.GuestSpec`.
    :param cache_dir: default ``<cache_root>/disk``.
    :raises RuntimeError: naming the missing Debian packages or the failed
        step.
    """
    missing = missing_tools()
    if missing:
        raise RuntimeError(
            'cannot build the guest disk: install the Debian '
            'packages %s' % ' '.join(missing)
        )
    guest = guest_build.build(log=log)
    cmdline = guest_spec.kernel_cmdline(spec)
    with open(os.path.abspath(__file__), 'rb') as f:
        recipe = f.read()
    with open(MBR_BIN, 'rb') as f:
        boot_code = f.read()
    key = hashlib.sha256(
        b'\0'.join(
            [
                guest.key.encode(),
                cmdline.encode(),
                recipe,
                boot_code,
                subprocess.run(
                    ['syslinux', '--version'], capture_output=True, text=True
                ).stderr.encode(),
            ]
        )
    ).hexdigest()[:16]
    cache_dir = cache_dir or os.path.join(guest_build.cache_root(), 'disk')
    final = os.path.join(cache_dir, key, 'disk.raw')
    if os.path.exists(final):
        return final
    os.makedirs(cache_dir, exist_ok=True)
    work = tempfile.mkdtemp(prefix='build-', dir=cache_dir)
    try:
        log('building guest disk %s (%s)' % (image_name(spec), cmdline))
        payload = sum(os.path.getsize(p) for p in (guest.kernel, guest.initrd))
        part_mib = payload // (1 << 20) + 1 + SLACK_MIB
        part = os.path.join(work, 'part.img')
        cfg = os.path.join(work, 'syslinux.cfg')
        with open(cfg, 'w') as f:
            f.write(syslinux_cfg(cmdline))
        _run(
            [
                'mkfs.fat',
                '-F',
                '16',
                '-n',
                'DIRTIER',
                '-i',
                '4c4d4331',
                '-h',
                str(PART_START),
                '-C',
                part,
                str(part_mib * 1024),
            ]
        )
        for src, dst in (
            (guest.kernel, 'vmlinuz'),
            (guest.initrd, 'initrd.img'),
            (cfg, 'syslinux.cfg'),
        ):
            _run(['mcopy', '-i', part, src, '::' + dst])
        _run(['syslinux', '--install', part])
        sectors = os.path.getsize(part) // SECTOR
        disk = os.path.join(work, 'disk.raw')
        with open(disk, 'wb') as out, open(part, 'rb') as src:
            out.write(mbr(boot_code, sectors))
            out.write(b'\0' * (PART_START - 1) * SECTOR)
            shutil.copyfileobj(src, out)
        with open(os.path.join(work, 'manifest.json'), 'w') as f:
            json.dump(
                {
                    'name': image_name(spec),
                    'cmdline': cmdline,
                    'guest_key': guest.key,
                    'key': key,
                },
                f,
                indent=1,
            )
        os.remove(part)
        os.remove(cfg)
        try:
            os.rename(work, os.path.dirname(final))
        except OSError:
            if not os.path.exists(final):  # lost a race: keep the winner
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return final


def main(argv=None):
    """Build (or find) one workload's disk and print its path."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--mem-mib', type=int, default=512)
    parser.add_argument('--dirty-mib', type=int, default=64)
    parser.add_argument('--dirty-rate', type=int, default=100)
    args = parser.parse_args(argv)
    spec = guest_spec.GuestSpec(
        mem_mib=args.mem_mib,
        dirty_mib=args.dirty_mib,
        dirty_rate_mib_s=args.dirty_rate,
    )
    path = build_disk(spec, log=lambda line: print(line, file=sys.stderr))
    print(json.dumps({'name': image_name(spec), 'path': path}))


if __name__ == '__main__':
    main()
