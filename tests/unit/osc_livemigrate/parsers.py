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
"""argparse parsers compared option by option (ours against core's)."""


def actions(parser):
    """{first option string, or dest: argparse action}, help left out."""
    return {
        (a.option_strings[0] if a.option_strings else a.dest): a
        for a in parser._actions
        if a.dest != 'help'
    }


def groups(parser):
    """The mutually exclusive groups, each as sorted 'dest:options'."""
    return sorted(
        sorted(
            a.dest + ':' + ','.join(a.option_strings) for a in g._group_actions
        )
        for g in parser._mutually_exclusive_groups
    )
