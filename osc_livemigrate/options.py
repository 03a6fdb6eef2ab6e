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
"""Every command's options checked in one place, before any API call.

argparse checks types and choices; what it cannot say (a policy name the
driver would never match, a negative timeout, an option that only means
something with ``--wait``) is checked here, so a mistake is a one-line
error and nothing has been sent to the cloud. Each ``check_*`` takes the
parsed arguments, raises ``CommandError`` naming the option and value, and
fills in defaults that depend on other options.

Example: ``server migrate vm1 --live-migration --wait-timeout 30`` fails
with "--wait-timeout only applies with --wait" instead of migrating
without waiting.
"""

import re

from osc_livemigrate.plan import drain as dp
from osc_livemigrate.sdk import errors

#: what the driver's policy entry points can be called; the same for
#: ``server migrate --policy`` and ``compute host drain`` (issue 11)
POLICY_NAME = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$')

#: ``server migrate`` options that only mean something with --wait, and the
#: value each takes when --wait is given without it
WAIT_ONLY = (
    ('--wait-timeout', 'wait_timeout', None),
    ('--poll-interval', 'poll_interval', 2.0),
    ('--on-interrupt', 'on_interrupt', 'ask'),
    ('--format', 'progress_format', 'auto'),
)


def check_policy_name(option, name, value=None):
    """Raise unless ``name`` is a policy name.

    :param option: the flag, e.g. ``'--policy'``.
    :param value: what the user typed when it is more than the name, e.g.
        ``'vm1=../x y'`` for ``--server-policy``.
    """
    if POLICY_NAME.match(name):
        return
    if value is None:
        what = '%s %r' % (option, name)
    else:
        what = '%s %r: %r' % (option, value, name)
    raise errors.command_error(
        '%s is not a policy name (letters, digits, ".", "_", "-")' % what
    )


def _positive_seconds(*pairs):
    for opt, value in pairs:
        if value is not None and value <= 0:
            raise errors.command_error(
                '%s %s must be a positive number of seconds' % (opt, value)
            )


def _at_least(*triples):
    for opt, value, low in triples:
        if value < low:
            raise errors.command_error(
                '%s %s must be at least %s' % (opt, value, low)
            )


def check_migrate(args):
    """``server migrate``: --policy, the wait options, and --wait for them."""
    if args.policy is not None:
        if not args.live_migration:
            raise errors.command_error(
                '--policy %s applies to live migrations only: add '
                '--live-migration' % args.policy
            )
        check_policy_name('--policy', args.policy)
    _positive_seconds(
        ('--wait-timeout', args.wait_timeout),
        ('--poll-interval', args.poll_interval),
    )
    for opt, dest, default in WAIT_ONLY:
        if getattr(args, dest) is None:
            setattr(args, dest, default)
        elif not args.wait:
            raise errors.command_error(
                '%s %s only applies with --wait: add --wait or drop it'
                % (opt, getattr(args, dest))
            )
    return args


def check_watch(args):
    """``server migration watch``: --interval and --count."""
    _positive_seconds(('--interval', args.interval))
    if args.count is not None and args.count < 1:
        raise errors.command_error('--count %s must be 1 or more' % args.count)
    return args


def check_drain(args):
    """``compute host drain``: numbers, timeouts and every policy name.

    :returns: ``{server name or ID: policy}`` from ``--server-policy``.
    """
    _at_least(
        ('--concurrency', args.concurrency, 1),
        ('--retries', args.retries, 0),
        ('--retry-delay', args.retry_delay, 0),
        ('--poll-interval', args.poll_interval, 0.001),
    )
    _positive_seconds(('--wait-timeout', args.wait_timeout))
    if args.target_host and args.target_host == args.host:
        # NOTE: nova would answer "No valid host was found" for each server
        raise errors.command_error(
            '--target-host %s is the host being drained: name another host'
            % args.target_host
        )
    if args.policy is not None:
        check_policy_name('--policy', args.policy)
    try:
        policies = dp.parse_server_policies(args.server_policy)
    except ValueError as e:
        raise errors.command_error(str(e)) from None
    for server, policy in policies.items():
        check_policy_name(
            '--server-policy', policy, '%s=%s' % (server, policy)
        )
    return policies
