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
"""What a test guest is: workload knobs, kernel command line, domain XML.

Pure functions, so the nova monitor tests, the benchmarks and the mini-cloud
can describe guests without touching libvirt.
"""

import dataclasses
import math
from xml.sax.saxutils import escape

EMULATOR = '/usr/bin/qemu-system-x86_64'
# MiB a 6.1 cloud kernel keeps for itself in a small TCG guest (443 of 512
# MiB are available to init), plus the 24 MiB margin dirtier.c demands.
KERNEL_OVERHEAD_MIB = 96
# What dirtier.c accepts (MAX_SETS, MAX_STAGES).
MAX_SETS = 3
MAX_STAGES = 32
# x86 COMMAND_LINE_SIZE is 2048 bytes with the terminating NUL.
CMDLINE_MAX = 2047
MIB = 1 << 20
#: The checks' read rates (MiB/s) of the test suite's guests: a VERIFY sweep
#: of a 64 MiB working set every 2 s, a 16 MiB DISK sweep every 4 s. Why:
#: under TCG the checks, not the workload, took most of a guest's host CPU,
#: and two lanes of tests share 2 cores. Measured on this project's machine
#: (2 cores, one guest alone, 30 s): a 512 MiB guest dirtying 64 MiB at
#: 20 MiB/s took 0.77 cores with GuestSpec's defaults (256, 16) and 0.40
#: with these; at 100 MiB/s, 0.85 and 0.55. The defaults stay as they are:
#: the recorded calibration traces were made with them.
LIGHT_CHECKS = dict(verify_rate_mib_s=32, disk_verify_mib_s=4)


@dataclasses.dataclass(frozen=True)
class GuestSchedule:
    """Working sets and the phases in which the guest dirties them.

    The simulator's schedule in guest units: ``sets_mib`` are up to three
    working sets (hot, warm, cold) in whole MiB; each stage is
    ``(duration_s, rates)`` with one rate in MiB/s per set.  With
    ``repeat`` the schedule starts over after its last stage, else the last
    stage lasts for ever (its duration may be ``inf``).

    Example, 32 MiB written at 40 MiB/s for 3 s, then left alone for 3 s::

        GuestSchedule(sets_mib=(32,), stages=((3, (40,)), (3, (0,))))
    """

    sets_mib: tuple
    stages: tuple
    repeat: bool = True

    def __post_init__(self):
        # Tuples all the way down, so that specs stay hashable.
        object.__setattr__(self, 'sets_mib', tuple(self.sets_mib))
        object.__setattr__(
            self,
            'stages',
            tuple((float(d), tuple(map(float, r))) for d, r in self.stages),
        )
        if not 1 <= len(self.sets_mib) <= MAX_SETS:
            raise ValueError('a schedule has one to three working sets')
        if any(int(s) != s or s <= 0 for s in self.sets_mib):
            raise ValueError('working sets must be positive whole MiB')
        if not 1 <= len(self.stages) <= MAX_STAGES:
            raise ValueError('a schedule has 1 to %d stages' % MAX_STAGES)
        for i, (duration, rates) in enumerate(self.stages):
            last = i == len(self.stages) - 1
            if not duration > 0 or (
                math.isinf(duration) and (self.repeat or not last)
            ):
                raise ValueError(
                    'stage %d: durations are positive and finite (only the '
                    'last stage of a schedule that does not repeat may be '
                    'inf)' % i
                )
            if len(rates) != len(self.sets_mib):
                raise ValueError(
                    'stage %d: one rate per working set (%d sets)'
                    % (i, len(self.sets_mib))
                )
            if any(not 0 <= r < math.inf for r in rates):
                raise ValueError('stage %d: rates must be >= 0 MiB/s' % i)

    def mean_rate_mib_s(self):
        """Time-averaged dirty rate over one period.

        A schedule that ends in a stage lasting for ever averages to that
        stage's rate.
        """
        durations = [d for d, _ in self.stages]
        if math.isinf(durations[-1]):
            return float(sum(self.stages[-1][1]))
        total = sum(d * sum(r) for d, r in self.stages)
        return total / sum(durations)

    def stage_at(self, t_s):
        """Index of the stage in force ``t_s`` seconds after READY."""
        period = sum(d for d, _ in self.stages)
        if self.repeat:
            t_s -= (t_s // period) * period
        for i, (duration, _) in enumerate(self.stages):
            if t_s < duration:
                return i
            t_s -= duration
        return len(self.stages) - 1

    def cmdline(self):
        """Return the dirtier's parameters for this schedule.

        e.g. ``dirtier.sets=32 dirtier.stages=3:40,3:0 dirtier.repeat=1``.
        """
        return 'dirtier.sets=%s dirtier.stages=%s dirtier.repeat=%d' % (
            ','.join('%d' % s for s in self.sets_mib),
            ','.join(
                '%s:%s' % (_number(d), '/'.join(_number(r) for r in rates))
                for d, rates in self.stages
            ),
            self.repeat,
        )


def _number(value):
    """Shortest decimal that C's strtod reads back to within 1e-6."""
    return '%.7g' % value


@dataclasses.dataclass(frozen=True)
class GuestSpec:
    """Memory size and the workload the guest's init runs.

    ``fill_mib`` is written once and only verified; ``dirty_mib`` is
    rewritten cyclically at ``dirty_rate_mib_s``; every written page is
    re-read at ``verify_rate_mib_s``.  ``inject_corrupt`` damages that many
    pages on purpose (to prove the checker works).

    With ``disk_mib`` the guest also writes a region of that many MiB at
    the tail of ``/dev/<disk_dev>`` at ``disk_rate_mib_s`` and re-reads it
    at ``disk_verify_mib_s`` (testbed/guest/diskcheck.c): the disk must be
    attached (:func:`domain_xml` ``disk``, or a nova root disk).

    With a ``schedule`` (:class:`GuestSchedule`) the guest runs that
    instead; ``dirty_mib`` must then be the sum of its working sets and
    ``dirty_rate_mib_s`` its mean rate, rounded, so that code that reads
    only those two still sees the right size and load.
    :func:`schedule_fields` fills in all three.
    """

    mem_mib: int = 512
    fill_mib: int = 0
    dirty_mib: int = 64
    dirty_rate_mib_s: int = 100
    verify_rate_mib_s: int = 256
    inject_corrupt: int = 0
    vcpus: int = 1
    schedule: GuestSchedule = None
    disk_mib: int = 0
    disk_rate_mib_s: int = 1
    disk_verify_mib_s: int = 16
    disk_dev: str = 'vda'

    def __post_init__(self):
        for field in dataclasses.fields(self):
            if field.type in ('int', int) and getattr(self, field.name) < 0:
                raise ValueError('%s must not be negative' % field.name)
        if self.fill_mib + self.dirty_mib > self.mem_mib - KERNEL_OVERHEAD_MIB:
            raise ValueError(
                'fill_mib + dirty_mib = %d MiB does not fit a %d MiB guest '
                '(the kernel needs about %d MiB)'
                % (
                    self.fill_mib + self.dirty_mib,
                    self.mem_mib,
                    KERNEL_OVERHEAD_MIB,
                )
            )
        if self.schedule is not None:
            expected = (
                sum(self.schedule.sets_mib),
                round(self.schedule.mean_rate_mib_s()),
            )
            if (self.dirty_mib, self.dirty_rate_mib_s) != expected:
                raise ValueError(
                    'with a schedule, dirty_mib and dirty_rate_mib_s must be '
                    '%d and %d (its sets and mean rate), not %d and %d: use '
                    'schedule_fields()'
                    % (expected + (self.dirty_mib, self.dirty_rate_mib_s))
                )
        if len(kernel_cmdline(self)) > CMDLINE_MAX:
            raise ValueError(
                'the kernel command line would be %d bytes, more than %d'
                % (len(kernel_cmdline(self)), CMDLINE_MAX)
            )

    @property
    def written_pages(self):
        """Pages the guest writes and verifies (4 KiB each)."""
        return (self.fill_mib + self.dirty_mib) * 256


def schedule_fields(sets_mib, stages, repeat=True):
    """Turn a simulator-style schedule into :class:`GuestSpec` fields.

    :param sets_mib: working-set sizes in MiB, rounded to whole MiB (at
        least 1) because the guest allocates whole MiB.
    :param stages: ``(duration_s, rates)`` pairs, rates in MiB/s per set.
    :param repeat: start over after the last stage, or stay in it.
    :returns: dict with ``dirty_mib``, ``dirty_rate_mib_s`` and
        ``schedule``, e.g. ``GuestSpec(mem_mib=256, **schedule_fields(
        (32,), [(3, (40,)), (3, (0,))]))`` dirties 20 MiB/s on average.
    """
    schedule = GuestSchedule(
        tuple(max(1, round(s)) for s in sets_mib),
        tuple(
            (float(d), tuple(float(r) for r in rates)) for d, rates in stages
        ),
        bool(repeat),
    )
    return {
        'dirty_mib': sum(schedule.sets_mib),
        'dirty_rate_mib_s': round(schedule.mean_rate_mib_s()),
        'schedule': schedule,
    }


def workload_fields(workload):
    """:func:`schedule_fields` for a simulator ``Workload`` (duck-typed).

    Reads ``sets``/``stages``/``repeat`` in bytes and bytes/s (or
    ``wws_bytes``/``dirty_rate_bps`` for a constant workload), so testbed
    needs no import of nova_ext.  A constant workload gives the constant
    fields (no schedule), rates rounded to whole MiB/s.
    """
    if not workload.stages:
        return {
            'dirty_mib': round(workload.wws_bytes / MIB),
            'dirty_rate_mib_s': round(workload.dirty_rate_bps / MIB),
            'schedule': None,
        }
    return schedule_fields(
        [s / MIB for s in workload.sets],
        [
            (stage.duration_s, [r / MIB for r in stage.rates_bps])
            for stage in workload.stages
        ],
        workload.repeat,
    )


def kernel_cmdline(spec):
    """Return the kernel command line that hands ``spec`` to dirtier.

    :param spec: :class:`GuestSpec`.
    :returns: str, e.g. ``console=ttyS0 panic=-1 loglevel=4
        dirtier.fill_mb=0 dirtier.dirty_mb=64 dirtier.dirty_rate=100
        dirtier.verify_rate=256 dirtier.inject_corrupt=0``; with a schedule
        ``dirtier.dirty_mb`` and ``dirtier.dirty_rate`` give way to
        :meth:`GuestSchedule.cmdline`; with a disk workload,
        ``dirtier.disk=vda dirtier.disk_mb=16 ...`` follows.
    """
    return _memory_cmdline(spec) + _disk_cmdline(spec)


def _disk_cmdline(spec):
    if not spec.disk_mib:
        return ''
    return (
        ' dirtier.disk=%s dirtier.disk_mb=%d dirtier.disk_rate=%d '
        'dirtier.disk_verify=%d'
        % (
            spec.disk_dev,
            spec.disk_mib,
            spec.disk_rate_mib_s,
            spec.disk_verify_mib_s,
        )
    )


def _memory_cmdline(spec):
    # panic=-1: reboot at once on a panic, and on_reboot=destroy turns that
    # into a dead domain a test notices, instead of a silent hang.
    if spec.schedule is not None:
        return (
            'console=ttyS0 panic=-1 loglevel=4 dirtier.fill_mb=%d %s '
            'dirtier.verify_rate=%d dirtier.inject_corrupt=%d'
            % (
                spec.fill_mib,
                spec.schedule.cmdline(),
                spec.verify_rate_mib_s,
                spec.inject_corrupt,
            )
        )
    return (
        'console=ttyS0 panic=-1 loglevel=4 '
        'dirtier.fill_mb=%d dirtier.dirty_mb=%d dirtier.dirty_rate=%d '
        'dirtier.verify_rate=%d dirtier.inject_corrupt=%d'
        % (
            spec.fill_mib,
            spec.dirty_mib,
            spec.dirty_rate_mib_s,
            spec.verify_rate_mib_s,
            spec.inject_corrupt,
        )
    )


def domain_xml(
    name,
    spec,
    kernel,
    initrd,
    serial_log,
    emulator=EMULATOR,
    uuid=None,
    disk=None,
):
    """Return libvirt domain XML for a TCG guest booted from kernel+initrd.

    Why TCG (type 'qemu'): /dev/kvm here is paravirtual and cannot boot a
    stock kernel.  The serial console goes to a file that both hosts see at
    the same path, so the log continues across a migration.

    :param name: domain name.
    :param spec: :class:`GuestSpec`.
    :param kernel: path of the guest kernel.
    :param initrd: path of the initramfs.
    :param serial_log: file the guest's ttyS0 is appended to.
    :param emulator: QEMU binary.
    :param uuid: optional domain UUID (libvirt picks one otherwise).
    :param disk: optional qcow2 image the guest sees as its first virtio
        disk (``/dev/vda``), for ``spec``'s disk workload.  Seen here with
        libvirt 11.3: a block migration (NON_SHARED_DISK) copies all of
        its virtual size, unallocated clusters too, against the
        migration's bandwidth cap (20 MiB/s: 2 GiB take 100 s).
    :returns: XML text.
    """
    disk_lines = ''
    if disk:
        disk_lines = (
            "    <disk type='file' device='disk'>\n"
            "      <driver name='qemu' type='qcow2'/>\n"
            "      <source file='%s'/>\n"
            "      <target dev='vda' bus='virtio'/>\n"
            '    </disk>\n' % escape(disk, {"'": '&apos;'})
        )
    uuid_line = '  <uuid>%s</uuid>\n' % escape(uuid) if uuid else ''
    return (
        "<domain type='qemu'>\n"
        '  <name>%(name)s</name>\n%(uuid)s'
        "  <memory unit='MiB'>%(mem)d</memory>\n"
        '  <vcpu>%(vcpus)d</vcpu>\n'
        '  <os>\n'
        "    <type arch='x86_64' machine='pc'>hvm</type>\n"
        '    <kernel>%(kernel)s</kernel>\n'
        '    <initrd>%(initrd)s</initrd>\n'
        '    <cmdline>%(cmdline)s</cmdline>\n'
        '  </os>\n'
        '  <features><acpi/><apic/></features>\n'
        '  <on_poweroff>destroy</on_poweroff>\n'
        '  <on_reboot>destroy</on_reboot>\n'
        '  <on_crash>destroy</on_crash>\n'
        '  <devices>\n'
        '    <emulator>%(emulator)s</emulator>\n'
        "    <controller type='usb' model='none'/>\n"
        '%(disk)s'
        "    <serial type='file'>\n"
        "      <source path='%(serial)s' append='on'/>\n"
        "      <target port='0'/>\n"
        '    </serial>\n'
        "    <memballoon model='none'/>\n"
        '  </devices>\n'
        '</domain>\n'
    ) % {
        'name': escape(name),
        'uuid': uuid_line,
        'mem': spec.mem_mib,
        'vcpus': spec.vcpus,
        'kernel': escape(kernel),
        'initrd': escape(initrd),
        'cmdline': escape(kernel_cmdline(spec)),
        'emulator': escape(emulator),
        'serial': escape(serial_log, {"'": '&apos;'}),
        'disk': disk_lines,
    }
