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
"""Shadow policies: decide beside the active policy, never act.

An operator trying a policy names it in ``[livemigrate] shadow_policies``;
the monitor hands each shadow the observation the active policy just saw,
and what a shadow would have done is only logged and recorded (through
``record``: the publisher's instance action event and the metrics): a new
decision at once, at INFO and as an event; the same decision repeated is
recorded again at most once per monitor interval, and logged at DEBUG
between.
(A schedule's ``t5:dt300 t10:postcopy`` on 5 s polls gives two decisions
4.9 s apart: both are events, and neither is throttled by the other.) A
shadow gets observations, never the guest, so it cannot reach libvirt;
one that raises is dropped for the rest of the migration with a warning,
and the migration goes on.

The observations reflect what the *active* policy did (its phase, its
downtime), so a shadow sees the migration it would not have steered:
compare its decisions with the active one's, not its outcome.
"""

import logging as std_logging

from oslo_log import log as logging

from nova_ext.core.observation import Action
from nova_ext.core.policies import base

LOG = logging.getLogger(__name__)


def build(names, context_, params_for, build_policy, instance=None):
    """One fresh object per shadow policy for this migration.

    A shadow that cannot be built is left out with a warning: a shadow
    never stops a migration.

    :param names: the configured shadow policy names (duplicates kept once)
    :param params_for: ``f(name)`` giving the policy's parameters
    :param build_policy: :func:`nova_ext.core.loader.build_policy`
    :returns: ``{name: policy}`` in the configured order
    """
    shadows = {}
    for name in names:
        if name in shadows:
            continue
        try:
            shadows[name] = build_policy(name, context_, params_for(name))
        except base.PolicyError as exc:
            LOG.warning(
                'Shadow migration policy %(name)s left out: %(exc)s',
                {'name': name, 'exc': exc},
                instance=instance,
            )
    return shadows


class Shadows:
    """Feed every shadow each observation; log and record what it says.

    :param policies: ``{name: policy}`` (see :func:`build`)
    :param interval_s: a repeated decision is recorded at most once in
        this many seconds of the migration (the monitor's stats interval)
    :param record: ``f(name, decision)``, which never raises:
        :meth:`nova_ext.compute.publisher.Listener.shadow`, whose publisher
        and metrics each catch and log their own failures
    """

    def __init__(self, policies, interval_s, record, instance=None):
        self.policies = dict(policies)
        self.interval_s = max(float(interval_s), 0.0)
        self.record = record
        self.instance = instance
        self._recorded_at = {}

    @property
    def names(self):
        return list(self.policies)

    def observe(self, obs):
        """Ask every shadow about ``obs``; a shadow that raises is dropped."""
        for name, policy in list(self.policies.items()):
            try:
                decision = policy.decide(obs)
            except Exception as exc:  # a shadow never disturbs the migration
                LOG.warning(
                    'Shadow migration policy %(name)s failed at %(t).1f s '
                    'and is dropped for this migration: %(exc)s',
                    {'name': name, 't': obs.elapsed_s, 'exc': exc},
                    instance=self.instance,
                )
                del self.policies[name]
                continue
            if decision.action is Action.NOTHING:
                continue
            said = (decision.action, decision.downtime_ms)
            last_said, last_t = self._recorded_at.get(name, (None, None))
            due = (
                said != last_said or obs.elapsed_s - last_t >= self.interval_s
            )
            # NOTE: a shadow may repeat what libvirt never got (a post-copy
            # switch, say) every poll: INFO once per interval, DEBUG between
            LOG.log(
                std_logging.INFO if due else std_logging.DEBUG,
                'Live migration shadow policy %(name)s would %(action)s '
                'at %(t).1f s: %(reason)s',
                {
                    'name': name,
                    'action': decision.action.value,
                    't': obs.elapsed_s,
                    'reason': decision.reason,
                },
                instance=self.instance,
            )
            if not due:
                continue
            self._recorded_at[name] = (said, obs.elapsed_s)
            self.record(name, decision)
