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
"""Command line of the mini-cloud: python3 -m testbed.cloud --help."""

import argparse
import sys

from testbed.cloud import layout as lay


def build_parser():
    p = argparse.ArgumentParser(
        prog='python3 -m testbed.cloud',
        description='A real nova 34 control plane on 127.0.0.1 with two '
        'nova-compute hosts (compute1, compute2). "fake" mode uses nova\'s '
        'fake.FakeLiveMigrateDriver. Work folder: $%s (default %s); '
        'port overrides: $%s="keystone=15000,...".'
        % (lay.DIR_ENV, lay.DEFAULT_DIR, lay.PORTS_ENV),
    )
    sub = p.add_subparsers(dest='command', metavar='COMMAND', required=True)
    helps = {
        'install': 'install the Debian packages and build the virtualenvs '
        'the services run in; start nothing (idempotent)',
        'up': 'install what is missing, then start every service (idempotent)',
        'down': 'stop every process the cloud started',
        'status': 'list the services and whether each answers '
        '(exit 1 if any does not)',
        'reset': 'stop everything and wipe all state (venvs are kept)',
        'env': 'print the admin credentials as shell exports '
        '(like the openrc file)',
    }
    for name, text in helps.items():
        sp = sub.add_parser(name, help=text, description=text)
        sp.add_argument(
            '--mode',
            choices=lay.MODES,
            default='fake',
            help="fake: nova's fake driver; libvirt: our driver on two "
            'namespaced libvirtds (default: fake)',
        )
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        from testbed.cloud.cloud import Cloud
        from testbed.cloud.procs import CloudError
    except ImportError as e:  # run with a bare interpreter
        print(
            'testbed.cloud: ERROR: %s; run the tool with the test '
            "environment's Python (.tox/py3/bin/python), or pip install -r "
            'requirements.txt -r test-requirements.txt' % e,
            file=sys.stderr,
        )
        return 2

    try:
        cloud = Cloud(mode=args.mode)
        if args.command == 'install':
            cloud.install(extras=False)
        elif args.command == 'up':
            cloud.up()
        elif args.command == 'down':
            cloud.down()
        elif args.command == 'reset':
            cloud.reset()
        elif args.command == 'env':
            from testbed.cloud import startup

            sys.stdout.write(startup.openrc(cloud.layout))
        elif args.command == 'status':
            rows = cloud.status()
            width = max(len(r[0]) for r in rows)
            for name, pid, ok, detail in rows:
                print(
                    '%-*s  %-7s  %-4s  %s'
                    % (width, name, pid or '-', 'up' if ok else 'DOWN', detail)
                )
            return 0 if all(r[2] for r in rows) else 1
    except CloudError as e:
        print('testbed.cloud: ERROR: %s' % e, file=sys.stderr)
        return 1
    except ValueError as e:  # bad mode / port override from the environment
        print('testbed.cloud: ERROR: %s' % e, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print('testbed.cloud: interrupted', file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. status | head
        sys.stderr.close()
        return 0
    return 0


if __name__ == '__main__':
    sys.exit(main())
