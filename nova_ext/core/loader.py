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
"""Find convergence policies by name through stevedore.

Entry points in the ``nova_ext.migration_policies`` namespace name policy
*classes*; :func:`build_policy` makes a fresh object for every migration so
no state leaks from one migration into the next. Third-party packages add
policies by declaring an entry point in that namespace.
"""

from stevedore import driver
from stevedore import exception as stevedore_exc
from stevedore import extension

from nova_ext.core.policies import base

NAMESPACE = 'nova_ext.migration_policies'


def available_policies():
    """:returns: sorted names of every installed policy."""
    mgr = extension.ExtensionManager(NAMESPACE, invoke_on_load=False)
    return sorted(mgr.names())


def policy_class(name, manager=None):
    """Look up the class registered under ``name``.

    :param name: the entry-point name, e.g. ``adaptive``
    :param manager: a stevedore DriverManager to use instead of the
        installed entry points (tests build one with ``make_test_instance``)
    :raises base.PolicyError: for an unknown name or a broken plugin
    """
    if manager is None:
        try:
            manager = driver.DriverManager(
                NAMESPACE, name, invoke_on_load=False
            )
        except stevedore_exc.NoMatches:
            raise base.PolicyError(
                'unknown migration policy %r (installed: '
                '%s)' % (name, ', '.join(available_policies()))
            )
        except (ImportError, AttributeError) as exc:
            raise base.PolicyError(
                'migration policy %r cannot be loaded: %s' % (name, exc)
            )
    cls = manager.driver
    if not (isinstance(cls, type) and issubclass(cls, base.ConvergencePolicy)):
        raise base.PolicyError(
            'migration policy %r is not a '
            'ConvergencePolicy class: %r' % (name, cls)
        )
    return cls


def build_policy(name, context, params=None, manager=None):
    """Make a new policy object for one migration.

    :param name: the policy's entry-point name
    :param context: the :class:`~nova_ext.core.observation.MigrationContext`
    :param params: mapping of raw parameter values (strings from config)
    :raises base.PolicyError: for an unknown policy or a bad parameter
    """
    return policy_class(name, manager=manager)(context, params)
