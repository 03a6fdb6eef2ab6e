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
"""ministack.sh's ini editing, with devstack's file semantics.

Each edit reads the whole file and renames a new one over it, as devstack's
``sed -i`` does, so concurrent editors lose each other's changes the way
they do in devstack. Comments and repeated options survive.

    ini.py set|add|delete|get FILE SECTION OPTION [VALUE]
    ini.py multi FILE SECTION OPTION VALUE...
    ini.py merge FILE LOCALCONF GROUP HEADER   # local.conf [[GROUP|HEADER]]
    ini.py meta-files LOCALCONF GROUP          # the HEADERs of GROUP
"""

import os
import re
import sys

HEAD = re.compile(r'^\s*\[([^]]+)\]\s*$')
META = re.compile(r'^\[\[([^|\]]+)\|([^\]]*)\]\]\s*$')


def _read(path):
    try:
        with open(path) as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


def _write(path, lines):
    tmp = '%s.ini-%d' % (path, os.getpid())
    with open(tmp, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    os.replace(tmp, path)


def _section(lines, section):
    """(start, end) of ``[section]``'s body, or (None, None)."""
    start = None
    for i, line in enumerate(lines):
        m = HEAD.match(line)
        if m and start is not None:
            return start, i
        if m and m.group(1) == section:
            start = i
    return (start, len(lines)) if start is not None else (None, None)


def _matches(lines, start, end, option):
    opt = re.compile(r'^\s*%s\s*=' % re.escape(option))
    if start is None:
        return []
    return [i for i in range(start + 1, end) if opt.match(lines[i])]


def edit(lines, action, section, option, values):
    """Return the new lines; ``values`` replace (set/multi) or extend."""
    start, end = _section(lines, section)
    found = _matches(lines, start, end, option)
    new = ['%s = %s' % (option, v) for v in values]
    if action == 'set' and len(found) == 1:
        lines[found[0]] = new[0]
        return lines
    if action != 'add':
        for i in reversed(found):
            del lines[i]
        end = end - len(found) if end is not None else None
    if action == 'delete':
        return lines
    if start is None:
        return lines + [''] * bool(lines) + ['[%s]' % section] + new
    while end > start + 1 and not lines[end - 1].strip():
        end -= 1
    lines[end:end] = new
    return lines


def get(lines, section, option):
    start, end = _section(lines, section)
    for i in _matches(lines, start, end, option):
        return lines[i].split('=', 1)[1].strip()
    return None


def meta_sections(localconf, group):
    """``[(header, [lines])]`` of local.conf's ``[[group|header]]``."""
    out, current = [], None
    for line in _read(localconf):
        m = META.match(line)
        if m:
            current = None
            if m.group(1) == group:
                current = (m.group(2), [])
                out.append(current)
        elif current is not None:
            current[1].append(line)
    return out


def merge(path, localconf, group, header):
    """Apply local.conf's ``[[group|header]]`` sections to ``path``."""
    pairs, section = {}, None
    for _, body in meta_sections(localconf, group):
        if _ != header:
            continue
        for line in body:
            m = HEAD.match(line)
            if m:
                section = m.group(1)
            elif line.strip() and not line.lstrip().startswith('#'):
                key, _sep, value = line.partition('=')
                pairs.setdefault((section, key.strip()), []).append(
                    value.strip()
                )
    lines = _read(path)
    for (sect, option), values in pairs.items():
        action = 'set' if len(values) == 1 else 'multi'
        lines = edit(lines, action, sect, option, values)
    _write(path, lines)


def main(argv):
    action = argv[0]
    if action == 'meta-files':
        for header, _ in meta_sections(argv[1], argv[2]):
            print(header)
        return 0
    if action == 'merge':
        merge(*argv[1:5])
        return 0
    path, section, option = argv[1:4]
    lines = _read(path)
    if action == 'get':
        value = get(lines, section, option)
        if value is not None:
            print(value)
        return 0
    _write(path, edit(lines, action, section, option, argv[4:]))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
