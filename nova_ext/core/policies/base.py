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
"""The plugin contract every convergence policy implements.

A policy object lives for exactly one migration. It is fed observations in
time order and answers each with one decision. The base class owns what
must hold for every policy, third-party ones included: parameters are
validated up front, and no decision ever does something the deployment
forbids or that would lose the guest (nothing but "nothing" once post-copy
has started), and no escalation (post-copy, pause, abort) is requested twice:
nova re-pauses a paused guest on every poll, we do not.
"""

import abc
import dataclasses
import logging

from nova_ext.core.observation import Action
from nova_ext.core.observation import Decision
from nova_ext.core.observation import Phase

LOG = logging.getLogger(__name__)


class PolicyError(ValueError):
    """A policy was asked for with a name or parameters we cannot accept."""


@dataclasses.dataclass(frozen=True)
class Param:
    """One declared policy parameter: its type, default, bounds and help."""

    name: str
    kind: type
    default: object
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple = ()
    #: a duration in seconds (or seconds per GiB): multiplied by the
    #: policy's ``time_scale``
    seconds: bool = False

    def parse(self, policy, raw):
        """Convert and check one raw value (a string from config, or typed).

        :raises PolicyError: naming the policy, the parameter and the value
        """
        try:
            if self.kind is bool and isinstance(raw, str):
                if raw.lower() not in ('true', 'false', 'yes', 'no', '1', '0'):
                    raise ValueError(raw)
                value = raw.lower() in ('true', 'yes', '1')
            else:
                value = self.kind(raw)
        except (TypeError, ValueError):
            raise PolicyError(
                'policy %s: parameter %s must be %s, got %r'
                % (policy, self.name, self.kind.__name__, raw)
            )
        if self.choices and value not in self.choices:
            raise PolicyError(
                'policy %s: parameter %s must be one of %s, '
                'got %r' % (policy, self.name, ', '.join(self.choices), raw)
            )
        if self.minimum is not None and value < self.minimum:
            raise PolicyError(
                'policy %s: parameter %s must be >= %s, got %r'
                % (policy, self.name, self.minimum, raw)
            )
        if self.maximum is not None and value > self.maximum:
            raise PolicyError(
                'policy %s: parameter %s must be <= %s, got %r'
                % (policy, self.name, self.maximum, raw)
            )
        return value


def parse_param_string(text):
    """Split ``"key=value;key=value"`` (the config form) into a dict.

    ``;`` separates pairs so that values may contain commas and spaces.

    :raises PolicyError: on a pair without ``=`` or a repeated key
    """
    params = {}
    for pair in (text or '').split(';'):
        if not pair.strip():
            continue
        key, sep, value = pair.partition('=')
        key = key.strip()
        if not sep or not key:
            raise PolicyError(
                'policy parameters: expected key=value, got %r' % pair.strip()
            )
        if key in params:
            raise PolicyError('policy parameters: %s given twice' % key)
        params[key] = value.strip()
    return params


#: what every policy accepts besides its own PARAMS
TIME_SCALE = Param(
    'time_scale',
    float,
    1.0,
    'multiplies every duration the policy counts in seconds (its '
    'observation floors, timeouts, step times); multiples of RAM/bandwidth '
    'follow the guest by themselves. 1 in production; a test bed with '
    '256 MiB guests runs the same decisions at 0.1',
    minimum=0.001,
)


class ConvergencePolicy(metaclass=abc.ABCMeta):
    """Decide, sample by sample, how to steer one live migration.

    Subclasses declare ``PARAMS`` and implement :meth:`_decide`. They must
    not read clocks, config or libvirt: everything arrives in the
    :class:`~nova_ext.core.observation.MigrationContext` and the observations.

    Every policy also takes ``time_scale``: the parameters declared with
    ``seconds=True`` arrive in ``self.params`` already multiplied by it.
    Example: nova's ``completion_timeout_s=800`` with ``time_scale=0.05``
    is 40 s per GiB, so a 256 MiB test guest (counted as 2 GiB, as nova
    does) is given 80 s instead of 1600 s.
    """

    #: the entry-point name operators type in config
    name = None
    #: declared parameters, validated before the first decision
    PARAMS = ()
    #: parameters a release renamed or removed: name -> what replaced it.
    #: They are still accepted (a deployment that set them in
    #: ``policy_params`` must keep starting) and ignored with a warning.
    DEPRECATED_PARAMS = {}
    #: deployment options that feed parameters: parameter name ->
    #: (config group, option name), e.g. adaptive's ``max_pause_ms`` from
    #: ``[livemigrate] max_pause_ms``. Data only: nova-compute reads the
    #: options and passes the values in as parameters (a value given in
    #: ``policy_params`` wins); the policy itself never reads config.
    CONFIG_OPTIONS = {}

    def __init__(self, context, params=None):
        """:param context: the MigrationContext of this migration
        :param params: mapping of parameter name to raw value
        :raises PolicyError: for an unknown or invalid parameter
        """
        self.context = context
        self.params = self.parse_params(params or {})
        self.downtime_ms = None
        self.escalated = None
        self.requested = set()
        self.validate()

    @classmethod
    def parse_params(cls, raw):
        """:returns: every declared parameter, typed, defaults filled in
        :raises PolicyError: for an unknown or invalid parameter
        """
        known = {p.name: p for p in cls.PARAMS + (TIME_SCALE,)}
        raw = dict(raw)
        for name in sorted(set(raw) & set(cls.DEPRECATED_PARAMS)):
            LOG.warning(
                'policy %s: parameter %s is deprecated and ignored: %s',
                cls.name,
                name,
                cls.DEPRECATED_PARAMS[name],
            )
            del raw[name]
        unknown = sorted(set(raw) - set(known))
        if unknown:
            raise PolicyError(
                'policy %s: unknown parameter %s (known: %s)'
                % (cls.name, unknown[0], ', '.join(sorted(known)) or 'none')
            )
        params = {
            name: p.parse(cls.name, raw.get(name, p.default))
            for name, p in known.items()
        }
        scale = params['time_scale']
        if scale != 1.0:
            for p in cls.PARAMS:
                if p.seconds:
                    params[p.name] *= scale
        return params

    def validate(self):
        """Check parameters against each other; raise PolicyError if not."""

    def decide(self, obs):
        """Answer one observation.

        :param obs: the latest :class:`~nova_ext.core.observation.Observation`
        :returns: a :class:`~nova_ext.core.observation.Decision`, already
            checked
            against what the deployment permits and the migration's phase
        """
        decision = self._guard(self._decide(obs), obs)
        if decision.action is Action.SET_DOWNTIME:
            self.downtime_ms = decision.downtime_ms
        elif decision.action is not Action.NOTHING:
            self.escalated = decision.action
            self.requested.add(decision.action)
        return decision

    @abc.abstractmethod
    def _decide(self, obs):
        """The policy's own rule: observation in, Decision out."""

    def _guard(self, decision, obs):
        """Refuse what is forbidden, clamp downtime, drop no-op repeats."""
        action = decision.action
        if action is Action.NOTHING:
            return decision
        permits = self.context.permits
        if obs.phase is Phase.POSTCOPY:
            return Decision(
                Action.NOTHING,
                'refused %s: post-copy has '
                'started, only the destination has the whole '
                'guest (%s)' % (action.value, decision.reason),
            )
        if obs.phase is Phase.PAUSED and action in (
            Action.PAUSE,
            Action.POSTCOPY,
        ):
            return Decision(
                Action.NOTHING,
                'refused %s: the guest is '
                'paused (%s)' % (action.value, decision.reason),
            )
        if action in self.requested:
            return Decision(
                Action.NOTHING,
                '%s already requested once; not '
                'repeating it (%s)' % (action.value, decision.reason),
            )
        if not permits.allows(action):
            return Decision(
                Action.NOTHING,
                'refused %s: not permitted by '
                'this deployment (%s)' % (action.value, decision.reason),
            )
        if action is Action.SET_DOWNTIME:
            wanted = decision.downtime_ms
            value = min(wanted, permits.max_downtime_ms)
            if value == self.downtime_ms:
                return Decision(
                    Action.NOTHING, 'downtime already %d ms' % value
                )
            if value != wanted:
                return Decision(
                    Action.SET_DOWNTIME,
                    '%s; capped at the '
                    'permitted %d ms' % (decision.reason, value),
                    downtime_ms=value,
                )
        return decision
