#!/bin/bash
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
#
# Stand-ins for the devstack functions devstack/plugin.sh uses. The ini
# functions edit the file for real; setup_develop and pip_uninstall run pip
# in $STUB_VENV; every other call is appended to $STUB_CALLS, one per line.
# Needs: STUB_VENV, STUB_CALLS; ENABLED_SERVICES (comma separated).
# shellcheck shell=bash

ENABLED_SERVICES=${ENABLED_SERVICES:-}

function _stub_record {
    echo "$*" >> "$STUB_CALLS"
}

function define_plugin { _stub_record "define_plugin $*"; }
function echo_summary { echo "stub summary: $*"; }
function die {
    local lineno=$1
    shift
    echo "stub die (line $lineno): $*" >&2
    exit 1
}

function enable_service {
    local svc
    for svc in "$@"; do
        [[ ",$ENABLED_SERVICES," == *",$svc,"* ]] ||
            ENABLED_SERVICES="${ENABLED_SERVICES:+$ENABLED_SERVICES,}$svc"
    done
}

function disable_service {
    local svc list=",$ENABLED_SERVICES,"
    for svc in "$@"; do
        list=${list//,$svc,/,}
    done
    list=${list#,}
    ENABLED_SERVICES=${list%,}
}

function is_service_enabled {
    local svc
    for svc in "$@"; do
        [[ ",$ENABLED_SERVICES," == *",$svc,"* ]] && return 0
    done
    return 1
}

function setup_develop {
    _stub_record "setup_develop $*"
    "$STUB_VENV/bin/python" -m pip install -q --no-deps -e "$1"
}

function pip_uninstall {
    _stub_record "pip_uninstall $*"
    "$STUB_VENV/bin/python" -m pip uninstall -q -y "$1"
}

# Real ini editing, line by line, so comments and repeated (multi-valued)
# options survive: _stub_ini ACTION FILE SECTION OPTION [VALUE...]
function _stub_ini {
    python3 - "$@" <<'PY'
import re
import sys

action, path, section, option = sys.argv[1:5]
values = sys.argv[5:]
try:
    with open(path) as f:
        lines = f.read().splitlines()
except FileNotFoundError:
    lines = []
head = re.compile(r'^\s*\[([^]]+)\]')
opt = re.compile(r'^\s*%s\s*=\s?(.*)$' % re.escape(option))
start = end = None
for i, line in enumerate(lines):
    m = head.match(line)
    if m and start is not None and end is None:
        end = i
    if m and m.group(1) == section:
        start, end = i, None
if start is not None and end is None:
    end = len(lines)
found = [i for i in range(start + 1, end) if opt.match(lines[i])] \
    if start is not None else []
if action == 'get':
    if found:
        print(opt.match(lines[found[0]]).group(1))
    sys.exit(0)
new = ['%s = %s' % (option, v) for v in values]
if action == 'set' and len(found) == 1:
    lines[found[0]] = new[0]
else:
    for i in reversed(found):
        del lines[i]
    if action != 'delete' and start is None:
        lines += [''] * bool(lines and lines[-1]) + ['[%s]' % section] + new
    elif action != 'delete':
        end -= len(found)
        while end > start + 1 and not lines[end - 1].strip():
            end -= 1
        lines[end:end] = new
with open(path, 'w') as f:
    f.write('\n'.join(lines) + '\n')
PY
}

function iniset { _stub_ini set "$1" "$2" "$3" "$4"; }
function iniset_multiline { _stub_ini multi "$@"; }
function inidelete { _stub_ini delete "$1" "$2" "$3"; }
function iniget { _stub_ini get "$1" "$2" "$3"; }

function openstack { _stub_record "openstack $*"; }
function nova-livemigrate-status { _stub_record "nova-livemigrate-status $*"; }
