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
"""The ``[livemigrate]`` options of nova-compute, and their validation.

Post-copy and auto-converge stay where operators already set them: nova's
``[libvirt] live_migration_permit_post_copy`` and
``live_migration_permit_auto_converge``. This group adds only what nova
lacks: which policy runs (and which shadow it), its parameters, whether
pausing or aborting is allowed, and which policies users may request.
"""

from oslo_config import cfg

from nova_ext.core import loader
from nova_ext.core.policies import base

GROUP = cfg.OptGroup(
    'livemigrate',
    title='osc-livemigrate driver options',
    help='Convergence policies for libvirt live migration.',
)

OPTS = [
    cfg.StrOpt(
        'default_policy',
        default='nova',
        help='Convergence policy used when neither the flavor nor '
        '(where allowed) the image or the server asks for one. '
        'One of the names in the nova_ext.migration_policies '
        'entry-point namespace: nova, schedule, adaptive, '
        'kubevirt, or a third-party one. "nova" keeps nova\'s '
        '[libvirt] live_migration_* behaviour.',
    ),
    cfg.MultiStrOpt(
        'policy_params',
        default=[],
        help='Parameters of one policy, as '
        '"POLICY:key=value;key=value". Repeat the option for '
        'several policies. Example: '
        '"adaptive:min_rounds=4;max_pause_ms=3000". The nova '
        'policy takes its defaults from [libvirt] '
        'live_migration_downtime, _downtime_steps, '
        '_downtime_delay, _completion_timeout and '
        '_timeout_action; values given here win.',
    ),
    cfg.ListOpt(
        'user_selectable_policies',
        default=[],
        help='Policies that project members may request through the '
        'server metadata key "livemigrate:policy" or the image '
        'property "livemigrate_policy". The flavor extra spec '
        '"livemigrate:policy" is admin-controlled and always '
        'honoured. Empty: users cannot choose.',
    ),
    cfg.BoolOpt(
        'permit_pause',
        default=True,
        help='Whether a policy may pause the guest to let a '
        "migration finish (nova's force_complete without "
        'post-copy does this).',
    ),
    cfg.BoolOpt(
        'permit_abort',
        default=True,
        help='Whether a policy may abort a migration it judges '
        'hopeless. The guest keeps running on the source.',
    ),
    cfg.IntOpt(
        'max_downtime_ms',
        default=0,
        min=0,
        help='Largest max-downtime a policy may set, in ms. 0 uses '
        '[libvirt] live_migration_downtime.',
    ),
    cfg.IntOpt(
        'max_pause_ms',
        default=5000,
        min=0,
        help='Longest pause of the guest, in ms, that the adaptive '
        'policy may cause to finish a migration that pre-copy cannot '
        'finish (only where permit_pause is true and post-copy is not '
        'permitted). The policy predicts the pause from the rounds and '
        "the bandwidth it measured, with a margin for the link's "
        'measured noise (1.2 / (1 - 3 x its spread)), so that the pause '
        'stays within this; if the prediction exceeds it, it aborts the '
        'migration instead (the guest keeps running on the source) when '
        'permit_abort is true, and otherwise lets pre-copy continue. '
        '0: never pause. A value in [livemigrate] policy_params '
        '("adaptive:max_pause_ms=...") wins.',
    ),
    cfg.ListOpt(
        'shadow_policies',
        default=[],
        help='Policies that run beside the active one on every migration, '
        'on the same samples, without acting: what each would do is '
        'logged and recorded as the instance action event '
        '"livemigrate_shadow:POLICY:ACTION" (at most once per shadow per '
        '[libvirt] live_migration_monitor_interval), and "openstack '
        'server migration show" sums them up. Use it to try a policy on '
        'real migrations before making it the default. A shadow never '
        'touches the guest; one that fails is dropped for that migration '
        'with a warning. Parameters come from policy_params as for the '
        'active policy. Empty: no shadows.',
    ),
    cfg.IntOpt(
        'postcopy_recovery_window_s',
        default=1200,
        min=0,
        help='How long, in seconds, a post-copy live migration whose '
        'connection broke may wait for its stream to come back. When the '
        'window ends the server goes to ERROR with a fault saying where '
        "the guest's memory is, the migration to error, and both hosts "
        'keep their half of the guest: nothing is destroyed. The window '
        'starts when the source reports post-copy failed; in a silent '
        "outage that is when libvirt's keepalive gives up on the "
        "destination (about 30 s) or QEMU's socket fails, whichever is "
        "first. While the kernel keeps the migration's TCP connection "
        '(net.ipv4.tcp_retries2: about 15 minutes by default) the stream '
        'resumes by itself when the link returns; once the kernel has '
        'ended it only VIR_MIGRATE_POSTCOPY_RESUME could, which this '
        'driver does not call because libvirt 11.3 crashes on it. So a '
        'window shorter than that TCP timeout gives up on outages the '
        'guest would have survived, and a much longer one only delays '
        'the error. 0 waits for ever (the migration stays running, '
        'phase "post-copy failed").',
    ),
    cfg.IntOpt(
        'post_migration_bus_window_s',
        default=600,
        min=0,
        help='How long, in seconds, after a live migration completed the '
        "driver waits for the message bus before nova's post-migration "
        'steps on the source: until nova-conductor and the '
        "destination's nova-compute answer a ping (RabbitMQ down or "
        'restarting: a request sent then is lost and times out). The '
        'guest already runs on the destination. The final status write '
        "is repeated if the bus lost it; nova's steps run once, since "
        'they are not safe to repeat. When they fail, or with 0 (no '
        'waiting), nova records the destination as the host, the server '
        'goes to ERROR and the migration to error, and "openstack server '
        'set --state active" brings it back once the guest is checked. '
        'The instance action event "livemigrate_post-steps-waited" says '
        'how long it waited.',
    ),
    cfg.PortOpt(
        'metrics_listen_port',
        default=0,
        help='Serve Prometheus metrics of live migrations on this TCP '
        'port (path /metrics): in-flight gauges per instance, duration '
        'and downtime histograms per policy and outcome, and a counter '
        'of decisions per policy and action, shadow policies included. '
        'Each nova-compute on one network namespace needs its own port. '
        'A port that cannot be bound is logged as an error and '
        'nova-compute runs on without it. 0: no listener.',
    ),
    cfg.HostAddressOpt(
        'metrics_listen_address',
        default='0.0.0.0',
        help='Address the metrics listener binds (see '
        'metrics_listen_port); 127.0.0.1 keeps it on this host.',
    ),
    cfg.StrOpt(
        'metrics_textfile',
        default='',
        help="Write the same metrics to this file for node_exporter's "
        'textfile collector (a path ending in .prom in its '
        '--collector.textfile.directory), rewritten atomically every '
        '[libvirt] live_migration_monitor_interval during a migration '
        'and when one ends. Each nova-compute needs its own file. '
        'Empty: no file.',
    ),
    cfg.BoolOpt(
        'publish_status',
        default=True,
        help='Write the livemigrate:* server metadata keys (phase, '
        'last action, reason, downtime) that the openstack CLI '
        'plugin shows while a migration runs.',
    ),
]


def register_opts(conf):
    """Register the ``[livemigrate]`` group on ``conf``.

    A new OptGroup each time: oslo.config keeps overrides on the group
    object, so sharing one between ConfigOpts would leak them.
    """
    group = cfg.OptGroup(GROUP.name, title=GROUP.title, help=GROUP.help)
    conf.register_group(group)
    conf.register_opts(OPTS, group=group)


def list_opts():
    """oslo-config-generator hook (``oslo.config.opts`` entry point)."""
    return [(GROUP, OPTS)]


def parse_policy_params(entries):
    """Turn the ``policy_params`` lines into ``{policy: {key: value}}``.

    :raises base.PolicyError: naming the malformed line
    """
    params = {}
    for entry in entries:
        name, sep, rest = entry.partition(':')
        name = name.strip()
        if not sep or not name:
            raise base.PolicyError(
                '[livemigrate] policy_params: expected '
                '"POLICY:key=value;...", got %r' % entry
            )
        if name in params:
            raise base.PolicyError(
                '[livemigrate] policy_params: policy %s given twice' % name
            )
        params[name] = base.parse_param_string(rest)
    return params


def validate(conf, context_factory):
    """Check the whole group once, at service start.

    Every policy named anywhere must load, and its parameters must parse,
    so that a typo stops nova-compute at start rather than at the first
    migration.

    :param conf: the oslo.config object with ``[livemigrate]`` registered
    :param context_factory: callable returning a sample MigrationContext
    :raises base.PolicyError: one line naming the option and the problem
    """
    group = conf.livemigrate
    try:
        params = parse_policy_params(group.policy_params)
    except base.PolicyError as exc:
        raise base.PolicyError(
            '[livemigrate] policy_params: %s' % str(exc).split(': ', 1)[-1]
        )
    named = [('default_policy', group.default_policy)]
    named += [
        ('user_selectable_policies', n) for n in group.user_selectable_policies
    ]
    named += [('shadow_policies', n) for n in group.shadow_policies]
    named += [('policy_params', n) for n in sorted(params)]
    for option, name in named:
        try:
            loader.build_policy(name, context_factory(), params.get(name))
        except base.PolicyError as exc:
            raise base.PolicyError('[livemigrate] %s: %s' % (option, exc))
    return params
