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
"""How a golden scenario runs: one command line on a fake cloud, recorded.

:func:`run` builds the command the way ``openstack`` would (the class comes
from setup.cfg's ``openstack.livemigrate.v1`` entry points, so a renamed
module is followed) and records stdout, stderr, the exit code and every SDK
call; :func:`scenario` registers a scenario under its function's name. The
scenarios themselves live in ``golden_<command>.py``; ``golden_scenarios``
gathers them.
"""

import configparser
import contextlib
import importlib
import io
import json
import os
import types

from osc_lib import exceptions

from tests.unit.osc_livemigrate import fakes

ROOT = os.path.dirname(
    os.path.dirname(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    )
)
GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'golden')
GROUP = 'openstack.livemigrate.v1'
SCENARIOS = {}


def command_class(words):
    """The class setup.cfg registers for ``words`` (e.g. 'server migrate')."""
    cfg = configparser.ConfigParser()
    cfg.read(os.path.join(ROOT, 'setup.cfg'))
    for line in cfg['entry_points'][GROUP].strip().splitlines():
        name, _, target = (p.strip() for p in line.partition('='))
        if name == words.replace(' ', '_'):
            module, _, cls = target.partition(':')
            return getattr(importlib.import_module(module), cls)
    raise KeyError(words)


def scenario(func):
    SCENARIOS[func.__name__] = func
    return func


def run(words, argv, compute, tty=False, step=None):
    """Run one command line on ``compute``; return what the user would see.

    :param step: called after every sleep of the command (the fake cloud
        moves on); sleeps only move a fake clock.
    """
    app = fakes.FakeApp(compute, tty=tty)
    app.client_manager.sdk_connection = types.SimpleNamespace(
        placement=getattr(compute, 'placement', None)
    )
    cmd = command_class(words)(app, None)
    clock = fakes.FakeClock()

    def sleep(seconds):
        clock.sleep(seconds)
        if step is not None:
            step()

    cmd._clock, cmd._sleep = clock, sleep
    out = {'argv': [words] + list(argv), 'error': None}
    parse_err = io.StringIO()
    try:
        with contextlib.redirect_stderr(parse_err):
            args = cmd.get_parser('openstack ' + words).parse_args(argv)
        rc = cmd.run(args)
    except SystemExit as e:  # argparse: usage and message on stderr
        rc = e.code
    except exceptions.CommandError as e:  # cliff: one line, exit 1
        rc, out['error'] = 1, str(e)
    except Exception as e:  # noqa: BLE001 - recorded, a user saw a traceback
        rc, out['error'] = 'traceback', '%s: %s' % (type(e).__name__, e)
    out.update(
        rc=rc,
        stdout=app.stdout.getvalue().splitlines(),
        stderr=(parse_err.getvalue() + app.stderr.getvalue()).splitlines(),
        calls=json.loads(json.dumps(compute.calls, default=repr)),
        sleeps=clock.sleeps,
    )
    return out


def golden_path(name):
    return os.path.join(GOLDEN, name + '.json')


def dump(record):
    return json.dumps(record, indent=1, sort_keys=True) + '\n'
