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
"""Command line of the libvirt host pair: python3 -m testbed.hosts --help."""

import argparse
import json
import sys
import time

from testbed.guest import build as guest_build
from testbed import hostpkgs
from testbed import hosts
from testbed import network


def _status(pair):
    """Print what is running; returns 0 when both hosts answer."""
    healthy = True
    for host in pair.HOSTS:
        line = '%s: netns %s %s, anchor %s, libvirtd %s, %s' % (
            host,
            pair.netns(host),
            'present' if network.netns_exists(pair.netns(host)) else 'absent',
            pair.anchor_pid(host),
            pair.libvirtd_pid(host),
            pair.uri(host),
        )
        try:
            doms = pair.connect(host).listAllDomains()
            line += ', domains %s' % [
                (d.name(), 'running' if d.isActive() else 'defined')
                for d in doms
            ]
        except Exception as exc:  # libvirtError or a missing libvirt-python
            line += ', unreachable (%s)' % str(exc).splitlines()[0]
            healthy = False
        print(line)
    print('present: %s' % (', '.join(pair.leftovers()) or 'nothing'))
    return 0 if healthy else 1


def main(argv=None):
    """Command line: install, up, down, status."""
    parser = argparse.ArgumentParser(
        prog='python3 -m testbed.hosts',
        description='Two namespaced libvirt/QEMU hosts for real live '
        'migration tests (run as root).',
    )
    parser.add_argument(
        '--workdir',
        help='default $%s or %s' % (hosts.WORKDIR_ENV, hosts.DEFAULT_WORKDIR),
    )
    parser.add_argument(
        '--prefix',
        help='namespace prefix (default '
        '$OSC_LM_PREFIX or "lm": netns lmA, lmB)',
    )
    parser.add_argument(
        '--subnet',
        help='first three octets used inside '
        'the namespaces (default $OSC_LM_SUBNET or 10.77.0)',
    )
    sub = parser.add_subparsers(dest='command', required=True)
    sub.add_parser(
        'install',
        help='install Debian packages and build the guest (idempotent)',
    )
    sub.add_parser('up', help='(re)create both hosts, removing leftovers')
    sub.add_parser(
        'down', help='remove domains, daemons, bridge, veths and namespaces'
    )
    sub.add_parser('status', help='show hosts, domains and leftovers')
    args = parser.parse_args(argv)
    pair = hosts.HostPair(args.workdir, args.prefix, args.subnet)
    log = lambda line: print(line, file=sys.stderr)  # noqa: E731
    started = time.monotonic()
    if args.command == 'install':
        hostpkgs.install(log=log)
        image = guest_build.build(log=log)
        print(json.dumps({'kernel': image.kernel, 'initrd': image.initrd}))
    elif args.command == 'up':
        pair.up()
        for host in pair.HOSTS:
            print(
                '%s: %s (from here: %s)'
                % (host, pair.uri(host), pair.local_uri(host))
            )
    elif args.command == 'down':
        left = pair.down()
        if left:
            print('could not remove: %s' % ', '.join(left))
            return 1
    else:
        try:
            return _status(pair)
        finally:
            pair.close()
    pair.close()
    log('%s took %.1fs' % (args.command, time.monotonic() - started))
    return 0
