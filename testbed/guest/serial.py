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
"""Read what the guest printed on its serial console.

The log is the only channel out of the guest, so tests judge liveness and
memory integrity from it: heartbeats must keep coming after a migration,
and a full VERIFY sweep that started after the migration must report zero
corrupt pages; with a disk, so must a full DISK sweep.
"""

import dataclasses
import re

_TAGS = (
    'START',
    'READY',
    'HEARTBEAT',
    'VERIFY',
    'CORRUPT',
    'ERROR',
    'DISKSTART',
    'DISKREADY',
    'DISKBAD',
    'DISK',
)
_LINE = re.compile(r'\b(%s)\b(.*)' % '|'.join(_TAGS))
_PAIR = re.compile(r'(\w+)=([\w.]+)')
_PANIC = re.compile(r'Kernel panic|Oops:|BUG:|general protection fault')
#: the kernel's reports of a vCPU that sat blocked while its clock ran on
#: (a post-copy page it waited for through a cut link): the symptom of a
#: frozen guest, not damage
_FROZEN = re.compile(r'soft lockup|workqueue lockup')


@dataclasses.dataclass(frozen=True)
class Heartbeat:
    """One HEARTBEAT line: guest seconds since READY and running totals.

    ``stage`` is the schedule's stage in force (None for a constant
    workload).
    """

    t_s: int
    dirtied_mib: int
    passes: int
    cycles: int
    corrupt: int
    stage: int = None


@dataclasses.dataclass(frozen=True)
class Verify:
    """One complete VERIFY sweep; corrupt counts distinct pages since boot."""

    cycle: int
    pages: int
    corrupt: int
    t_s: float


@dataclasses.dataclass(frozen=True)
class DiskVerify:
    """One complete DISK sweep over the disk region.

    ``corrupt`` counts blocks that match no write, ``stale`` intact
    blocks of an older generation (a lost write); both since boot.
    """

    cycle: int
    blocks: int
    corrupt: int
    stale: int
    t_s: float


@dataclasses.dataclass(frozen=True)
class SerialReport:
    """Everything of interest in one serial log."""

    start: dict
    ready: bool
    heartbeats: tuple
    verifies: tuple
    corrupt_pages: tuple
    errors: tuple
    panics: tuple
    #: DISKSTART fields (dev, size_mib, off_mib, blocks...), {} if none
    disk_start: dict = dataclasses.field(default_factory=dict)
    disk_verifies: tuple = ()
    #: (block, kind) of each DISKBAD line, kind 'corrupt' or 'stale'
    disk_bad_blocks: tuple = ()

    @property
    def disk_bad(self):
        """Largest count of corrupt plus stale blocks the guest reported."""
        counts = [v.corrupt + v.stale for v in self.disk_verifies]
        return max(counts + [len(self.disk_bad_blocks)])

    @property
    def corrupt(self):
        """Largest corrupt-page count the guest reported anywhere."""
        counts = [v.corrupt for v in self.verifies]
        counts += [h.corrupt for h in self.heartbeats]
        return max(counts + [len(self.corrupt_pages)])

    @property
    def damage(self):
        """The kernel reports that mean damage: :attr:`panics` less those
        a guest frozen for a while prints (soft or workqueue lockups).
        """
        return tuple(p for p in self.panics if not _FROZEN.search(p))

    @property
    def healthy(self):
        """True when the guest booted, runs and reported no problem."""
        return (
            self.ready
            and not self.errors
            and not self.panics
            and self.corrupt == 0
            and self.disk_bad == 0
        )


def _number(text):
    return float(text) if '.' in text else int(text)


def parse_serial(text):
    """Parse a guest serial log.

    Kernel messages may interleave with the guest's lines, so a tag is
    matched anywhere in a line; half-written last lines are ignored.

    :param text: the log's content.
    :returns: :class:`SerialReport`.

    Example::

        >>> r = parse_serial('READY pages=1\\nVERIFY cycle=1 pages=1 '
        ...                  'corrupt=0 t=0.5\\n')
        >>> r.ready, r.verifies[0].pages, r.corrupt
        (True, 1, 0)
    """
    start, ready = {}, False
    beats, verifies, corrupt, errors, panics = [], [], [], [], []
    disk_start, disk_verifies, disk_bad = {}, [], []
    lines = text.split('\n')
    for line in lines[:-1] if not text.endswith('\n') else lines:
        if _PANIC.search(line):
            panics.append(line.strip())
        match = _LINE.search(line)
        if not match:
            continue
        tag, rest = match.groups()
        if tag == 'ERROR':
            errors.append(rest.strip())
            continue
        fields = {
            k: _number(v) if v[0].isdigit() else v
            for k, v in _PAIR.findall(rest)
        }
        try:
            if tag == 'START':
                start = fields
            elif tag == 'READY':
                ready = True
            elif tag == 'HEARTBEAT':
                beats.append(
                    Heartbeat(
                        fields['t'],
                        fields['dirtied_mib'],
                        fields['pass'],
                        fields['cycles'],
                        fields['corrupt'],
                        fields.get('stage'),
                    )
                )
            elif tag == 'VERIFY':
                verifies.append(
                    Verify(
                        fields['cycle'],
                        fields['pages'],
                        fields['corrupt'],
                        fields['t'],
                    )
                )
            elif tag == 'CORRUPT':
                corrupt.append((fields['region'], fields['page']))
            elif tag == 'DISKSTART':
                disk_start = fields
            elif tag == 'DISK':
                disk_verifies.append(
                    DiskVerify(
                        fields['cycle'],
                        fields['blocks'],
                        fields['corrupt'],
                        fields['stale'],
                        fields['t'],
                    )
                )
            elif tag == 'DISKBAD':
                disk_bad.append((fields['block'], fields['kind']))
        except KeyError:
            continue  # a line cut by interleaved kernel output
    return SerialReport(
        start,
        ready,
        tuple(beats),
        tuple(verifies),
        tuple(corrupt),
        tuple(errors),
        tuple(panics),
        disk_start,
        tuple(disk_verifies),
        tuple(disk_bad),
    )
