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


#: the reason a drained host's nova-compute service is disabled with
DRAIN_REASON = 'drained by openstack compute host drain'


def check_drain(args, warn=None):
    """``compute host drain``: hosts, numbers, limits, policy names.

    Fills in ``args.limits`` (``plan.limits.Limits``) and
    ``args.disable_reason``. Old command lines keep working:
    ``--concurrency N`` is ``--max-per-host N`` counting outbound only
    (the scheduler still chooses destinations), with a warning;
    ``--disable`` is what every drain does now, also with a warning.

    :param warn: ``warn(line)`` for deprecation warnings.
    :returns: ``{server name or ID: policy}`` from ``--server-policy``.
    """
    from osc_livemigrate.plan import limits as lim

    warn = warn or (lambda line: None)
    sources = [
        bool(args.host),
        bool(args.aggregate),
        bool(args.availability_zone),
    ]
    if args.resume and any(sources):
        raise errors.command_error(
            '--resume %s drains the hosts its report names: drop the hosts, '
            '--aggregate and --availability-zone' % args.resume
        )
    if not args.resume and not any(sources):
        raise errors.command_error(
            'Name the hosts to drain: <host> ..., --aggregate, '
            '--availability-zone or --resume'
        )
    _at_least(
        ('--retries', args.retries, 0),
        ('--retry-delay', args.retry_delay, 0),
        ('--poll-interval', args.poll_interval, 0.001),
        ('--hosts-at-once', args.hosts_at_once, 1),
    )
    for opt, value in (
        ('--concurrency', args.concurrency),
        ('--max-parallel', args.max_parallel),
        ('--max-per-host', args.max_per_host),
    ):
        if value is not None:
            _at_least((opt, value, 1))
    _positive_seconds(('--wait-timeout', args.wait_timeout))
    if args.target_host and args.target_host in (args.host or ()):
        # NOTE: nova would answer "No valid host was found" for each server
        raise errors.command_error(
            '--target-host %s is %s being drained: name another host'
            % (
                args.target_host,
                'the host' if len(args.host) == 1 else 'one of the hosts',
            )
        )
    if args.max_per_host is not None:
        if args.concurrency is not None:
            raise errors.command_error(
                '--concurrency %s and --max-per-host %s: give only '
                '--max-per-host' % (args.concurrency, args.max_per_host)
            )
        if args.target_host:
            raise errors.command_error(
                '--target-host %s and --max-per-host %s: the limit on '
                'inbound migrations chooses each destination; drop one'
                % (args.target_host, args.max_per_host)
            )
        args.limits = lim.Limits(args.max_parallel, args.max_per_host)
    else:
        if args.concurrency is not None:
            warn(
                'WARNING: --concurrency is deprecated: it is --max-per-host '
                'counting outbound migrations only; use --max-per-host, '
                'which counts inbound ones too'
            )
        args.limits = lim.Limits(
            args.max_parallel, args.concurrency or 2, inbound=False
        )
    if args.disable:
        warn(
            'WARNING: --disable is deprecated: every drained host is '
            'disabled before its first migration'
        )
    args.disable_reason = args.disable_reason or DRAIN_REASON
    if args.wait_for and not args.enable_after:
        raise errors.command_error(
            '--wait-for %s only applies with --enable-after' % args.wait_for
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
