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
"""Run openstackclient 10.5's unit tests of the commands the plugin replaces
with the plugin's classes in their place.

Core's tests build commands as ``server_migration.ListMigration(app, None)``
or ``server.MigrateServer(app, None)``; this runner swaps those module
attributes for our classes before running them, counts how many of our
commands were built (proof of the substitution), and compares the failures
with ``exceptions.txt``: every failure must be listed there with its reason,
and every listed test must still fail (a stale entry is an error too).

Run: ``python -m tests.contract.osc_unit.run``. It prints unittest's own
summary and a JSON line, and exits non-zero on any unexpected result.
Core's tests need ``requests-mock`` (osc_lib's test fakes import it).
"""

import json
import pathlib
import sys
import unittest

from tests.contract.exceptions_file import read_exceptions

EXCEPTIONS = pathlib.Path(__file__).with_name('exceptions.txt')
SUITES = [
    ('openstackclient.tests.unit.compute.v2.test_server_migration', None),
    ('openstackclient.tests.unit.compute.v2.test_server', 'migrat'),
]
#: (core module, class name, our module, our class name)
REPLACED = [
    ('server_migration', 'ListMigration', 'server_migration', None),
    ('server_migration', 'ShowMigration', 'server_migration', None),
    ('server_migration', 'AbortMigration', 'server_migration', None),
    (
        'server_migration',
        'ForceCompleteMigration',
        'server_migration',
        None,
    ),
    ('server', 'MigrateServer', 'server_migrate', None),
]


def substitute():
    """Put our classes where core's tests look for the commands.

    :returns: ``{'count': n}``, n growing with every command of ours built.
    """
    import importlib

    built = {'count': 0}
    for core_mod, name, our_mod, our_name in REPLACED:
        core = importlib.import_module(
            'openstackclient.compute.v2.' + core_mod
        )
        ours = getattr(
            importlib.import_module('osc_livemigrate.v1.' + our_mod),
            our_name or name,
        )
        counting = type(
            name,
            (ours,),
            {
                '__init__': _counting(ours, built),
                '__module__': __name__,
                '_sleep': staticmethod(_no_endless_wait),
            },
        )
        setattr(core, name, counting)
    return built


#: sleeps a command may take in one test before the runner calls it a hang
MAX_SLEEPS = 50


class WaitedForever(AssertionError):
    """A core test made our --wait loop forever (its fake never changes)."""


def _no_endless_wait(seconds, _calls={'n': 0}):
    # NOTE: core's --wait tests mock osc_lib.utils.wait_for_status, which we
    # do not call; their fake server never moves, so our wait would poll
    # forever. A real sleep is never taken here.
    _calls['n'] += 1
    if _calls['n'] % MAX_SLEEPS == 0:
        raise WaitedForever('still waiting after %d polls' % MAX_SLEEPS)


def _counting(cls, built):
    def __init__(self, *args, **kwargs):
        built['count'] += 1
        cls.__init__(self, *args, **kwargs)

    return __init__


def load():
    loader = unittest.TestLoader()
    suite = unittest.TestSuite()
    for module, pattern in SUITES:
        loader.testNamePatterns = ['*%s*' % pattern] if pattern else None
        suite.addTests(loader.loadTestsFromName(module))
    return suite


def run(stream=None, substituted=True):
    """Run the suites; :returns: the JSON-able report (``ok`` says it all).

    :param substituted: False runs core's own classes (the stock count).
    """
    built = substitute() if substituted else {'count': 0}
    suite = load()
    result = unittest.TextTestRunner(stream=stream, verbosity=1).run(suite)
    failed = {t.id() for t, _ in result.failures + result.errors}
    listed = read_exceptions(EXCEPTIONS) if substituted else {}
    unexpected = sorted(failed - set(listed))
    stale = sorted(set(listed) - failed)
    return {
        'ran': result.testsRun,
        'passed': result.testsRun - len(failed),
        'failed': len(failed),
        'expected_failures': len(failed & set(listed)),
        'unexpected_failures': unexpected,
        'stale_exceptions': stale,
        'our_commands_built': built['count'],
        'ok': not unexpected
        and not stale
        and (built['count'] > 0 or not substituted),
    }


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    try:
        import requests_mock  # noqa: F401
    except ImportError:
        print(
            "osc-unit: FAILED: openstackclient's tests need requests-mock "
            '(test-requirements.txt), which this environment lacks'
        )
        return 2
    report = run(substituted='--stock' not in argv)
    print(json.dumps(report))
    print(
        'osc-unit: %s (%d ran, %d passed, %d failures all listed with '
        'reasons, %d commands of our classes built)'
        % (
            'OK' if report['ok'] else 'FAILED',
            report['ran'],
            report['passed'],
            report['expected_failures'],
            report['our_commands_built'],
        )
    )
    return 0 if report['ok'] else 1


if __name__ == '__main__':
    sys.exit(main())
