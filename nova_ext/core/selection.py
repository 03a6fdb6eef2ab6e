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
"""Which policy runs a given migration: pure precedence and permission rules.

Sources, most specific first: the server's metadata (``livemigrate:policy``),
the image property (``livemigrate_policy``), the flavor extra spec
(``livemigrate:policy``), then ``[livemigrate] default_policy``. Server
metadata and image properties are set by project members, so they count
only for policies in ``user_selectable_policies``; the flavor is the
admin's and always counts. A refused or unknown request is reported with
its reason and the next source decides.
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class Selection:
    """The chosen policy, where the choice came from, and what was refused."""

    name: str
    source: str
    refusals: tuple = ()
    #: the policy of the first refused request (the most specific source)
    asked: str | None = None


def select_policy(
    default, user_selectable, installed, server=None, image=None, flavor=None
):
    """Pick the policy for one migration.

    :param default: ``[livemigrate] default_policy``
    :param user_selectable: names users may request
    :param installed: names the loader can build
    :param server: the server metadata value, if any
    :param image: the image property value, if any
    :param flavor: the flavor extra spec value, if any
    :returns: a :class:`Selection`; ``refusals`` holds one line per request
        that was not honoured, for the log and the published status
    """
    refusals = []
    asked = None
    for source, value, user_set in (
        ('server metadata', server, True),
        ('image property', image, True),
        ('flavor extra spec', flavor, False),
    ):
        if not value:
            continue
        value = value.strip()
        if value in installed and (not user_set or value in user_selectable):
            return Selection(value, source, tuple(refusals), asked)
        asked = asked or value
        if value not in installed:
            refusals.append(
                '%s asks for policy %r, which is not installed '
                '(installed: %s)'
                % (source, value, ', '.join(sorted(installed)))
            )
        else:
            refusals.append(
                '%s asks for policy %r, which the operator does '
                'not let users choose (allowed: %s)'
                % (source, value, ', '.join(user_selectable) or 'none')
            )
    return Selection(default, 'default', tuple(refusals), asked)
