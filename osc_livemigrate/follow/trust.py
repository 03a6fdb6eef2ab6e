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
"""Who could have written what the CLI shows: marks and nova's witness.

The driver's ``livemigrate:*`` keys are server metadata, which nova lets the
server's owner write (``os_compute_api:server-metadata:*`` is
PROJECT_MEMBER_OR_ADMIN by default), so a project member can change them
at will. Two rules follow (``doc/source/admin/contract.rst``, "Who can
write what"):

- every value the CLI shows from those keys carries the mark
  :data:`TAG` (a header suffix, a ``owner_writable`` list in JSON lines);
- a claim of the driver that changes a verdict, a refused policy, counts
  only when nova's instance action events, which only nova writes, hold
  the driver's event for it (:func:`vouched`).

Example: a member writes a refusal into the metadata; nova's events of the
migration hold only the driver's set-downtime event, so
``vouched(contract.POLICY_REFUSED, names)`` is False and ``--wait`` does
not fail on the refusal, and says why.
"""

from osc_livemigrate.tables import contract

#: the mark of a value read from owner-writable server metadata
TAG = '[owner-writable]'
#: what a verdict says before the metadata it quotes
SAYS = 'owner-writable server metadata says'


def header(name):
    """A column or row header for values read from server metadata.

    Example: ``header('Policy')`` gives ``'Policy [owner-writable]'``.
    """
    return '%s %s' % (name, TAG)


def tagged(text, owner_writable):
    """``text`` with :data:`TAG` when it came from server metadata."""
    return '%s %s' % (text, TAG) if owner_writable and text else text


def vouched(action, event_names):
    """Whether nova's events hold the driver's event for ``action``.

    :param action: an action name of the contract
    :param event_names: the event names of the migration's instance
        action, or None when they could not be read
    :returns: True or False; None when the events are unknown, so the
        caller can tell "nova says no" from "could not ask"
    """
    if event_names is None:
        return None
    return contract.EVENT_PREFIX + action in set(event_names)


def refusal_claim(refused, event_names):
    """What a verdict may make of a refusal read from server metadata.

    :param refused: the refusal's text as the verdict would quote it, or
        None
    :param event_names: as for :func:`vouched`
    :returns: ``(refused, note)``: the refusal kept for the verdict (None
        when nova's events deny it) and a note for the verdict's reason
        (None when there is nothing to say). Unknown events keep the
        claim: a user who cannot read them is reading their own server.
    """
    if refused is None:
        return None, None
    if vouched(contract.POLICY_REFUSED, event_names) is False:
        return None, (
            '%s the driver refused the policy (%s), but nova recorded no '
            'event %s%s: not counted'
            % (
                SAYS,
                refused or 'no reason given',
                contract.EVENT_PREFIX,
                contract.POLICY_REFUSED,
            )
        )
    return refused, None
