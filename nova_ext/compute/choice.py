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
"""The policy one instance's live migration runs, built from what nova
passes the driver: the server's metadata, its image's and flavor's
settings (read without lazy-loading), and ``[livemigrate]``.

Who may ask for which policy is :func:`nova_ext.core.selection.select_policy`;
this module reads nova's objects for it and builds the chosen policy,
falling back to the default when its parameters are refused.
"""

from nova import conf as nova_conf
from oslo_config import cfg

from nova_ext.core import contract
from nova_ext.core import loader
from nova_ext.core.policies import base
from nova_ext.core import selection

CONF = nova_conf.CONF


def loaded(obj, name, default=None):
    """An object field if it is set, without lazy-loading (or failing)."""
    if obj is None:
        return default
    if hasattr(obj, 'obj_attr_is_set'):
        return getattr(obj, name) if obj.obj_attr_is_set(name) else default
    return getattr(obj, name, default)


def configured_params(name, conf=CONF):
    """The parameters policy ``name`` takes from the deployment's options.

    Each policy declares them (``CONFIG_OPTIONS``); e.g. adaptive's
    ``max_pause_ms`` is ``[livemigrate] max_pause_ms``, nova's
    ``downtime_ms`` is ``[libvirt] live_migration_downtime``.

    :returns: ``{parameter: option value}``
    :raises base.PolicyError: for an unknown policy, or an option that is
        not registered (a third-party policy's typo)
    """
    params = {}
    for param, (group, option) in loader.policy_class(
        name
    ).CONFIG_OPTIONS.items():
        try:
            params[param] = getattr(getattr(conf, group), option)
        except cfg.NoSuchOptError:
            raise base.PolicyError(
                'policy %s: parameter %s reads [%s] %s, which is not a '
                'registered option' % (name, param, group, option)
            )
    return params


def choose_policy(instance, context_, params_for):
    """:returns: (:class:`nova_ext.core.selection.Selection`, policy object)

    :param params_for: ``f(policy name)`` -> that policy's parameters
    """
    image_value = (loaded(instance, 'system_metadata') or {}).get(
        'image_' + contract.POLICY_IMAGE_PROPERTY
    )
    flavor = loaded(instance, 'flavor')
    flavor_value = (
        (loaded(flavor, 'extra_specs') or {}) if flavor else {}
    ).get(contract.POLICY_FLAVOR_SPEC)
    chosen = selection.select_policy(
        CONF.livemigrate.default_policy,
        CONF.livemigrate.user_selectable_policies,
        loader.available_policies(),
        server=(loaded(instance, 'metadata') or {}).get(contract.POLICY_KEY),
        image=image_value,
        flavor=flavor_value,
    )
    try:
        policy = loader.build_policy(
            chosen.name, context_, params_for(chosen.name)
        )
    except base.PolicyError as exc:
        default = CONF.livemigrate.default_policy
        refusal = '%s; using the default %s' % (exc, default)
        chosen = selection.Selection(
            default,
            'default',
            chosen.refusals + (refusal,),
            chosen.asked or chosen.name,
        )
        policy = loader.build_policy(default, context_, params_for(default))
    return chosen, policy
