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
"""Run nova 34's live-migration unit tests with our LibvirtDriver in place.

nova's tests build drivers as ``libvirt_driver.LibvirtDriver(...)``; this
runner swaps that module attribute for
:class:`nova_ext.compute.driver.LibvirtDriver`
before loading them, counts how many of our drivers were built (proof of the
substitution), and compares the failures with ``exceptions.txt``: every
failure must be listed there with its reason, and every listed test must
still fail (a stale entry is an error too).

Run: ``python -m tests.contract.nova_unit.run`` (tox env ``nova-unit``).
It prints unittest's own summary and a JSON line, and exits non-zero on any
unexpected result. nova's tests need ``python -m unittest``-style loading,
``OS_NOVA_DISABLE_EVENTLET_PATCHING=True`` and ``SQLAlchemy<2.1``.
"""

import json
import os
import pathlib
import sys
import unittest

from tests.contract.exceptions_file import read_exceptions

os.environ.setdefault('OS_NOVA_DISABLE_EVENTLET_PATCHING', 'True')

EXCEPTIONS = pathlib.Path(__file__).with_name('exceptions.txt')
SUITES = [
    ('nova.tests.unit.virt.libvirt.test_migration', None),
    ('nova.tests.unit.virt.libvirt.test_driver', 'test_live_migration'),
]


def substitute():
    """Put our class where nova's tests look for the driver."""
    from nova.virt.libvirt import driver as libvirt_driver
    from nova_ext.compute import driver as our_driver

    built = {'count': 0}
    original_init = our_driver.LibvirtDriver.__init__

    def counting_init(self, *args, **kwargs):
        built['count'] += 1
        original_init(self, *args, **kwargs)

    our_driver.LibvirtDriver.__init__ = counting_init
    libvirt_driver.LibvirtDriver = our_driver.LibvirtDriver
    return built


def load():
    loader = unittest.TestLoader()
    suite = unittest.TestSuite()
    for module, pattern in SUITES:
        loader.testNamePatterns = ['*%s*' % pattern] if pattern else None
        suite.addTests(loader.loadTestsFromName(module))
    return suite


def main():
    # NOTE: nova.tests.unit must be imported first (it sets nova's threading
    # mode before anything imports eventlet); the substitution must come
    # before the test modules, whose @mock.patch.object decorators resolve
    # libvirt_driver.LibvirtDriver when the module is imported.
    import nova.tests.unit  # noqa: F401

    built = substitute()
    suite = load()
    result = unittest.TextTestRunner(verbosity=1).run(suite)
    failed = {t.id() for t, _ in result.failures + result.errors}
    listed = read_exceptions(EXCEPTIONS)
    unexpected = sorted(failed - set(listed))
    stale = sorted(set(listed) - failed)
    report = {
        'ran': result.testsRun,
        'failed': len(failed),
        'expected_failures': len(failed & set(listed)),
        'unexpected_failures': unexpected,
        'stale_exceptions': stale,
        'our_drivers_built': built['count'],
    }
    print(json.dumps(report))
    ok = not unexpected and not stale and built['count'] > 0
    print(
        'nova-unit: %s (%d ran, %d failures all listed with reasons, '
        '%d drivers of our class built)'
        % (
            'OK' if ok else 'FAILED',
            result.testsRun,
            len(failed & set(listed)),
            built['count'],
        )
    )
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
