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
"""The listed-failure files of the upstream test runners (nova_unit,
osc_unit): one ``test id  # reason`` per line, and no entry without a
reason.
"""


def read_exceptions(path):
    """:returns: {test id: reason} from ``id  # reason`` lines.

    :param path: a :class:`pathlib.Path` to the exceptions file
    :raises SystemExit: naming an entry that gives no reason
    """
    listed = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith('#'):
            continue
        test_id, _, reason = line.partition('#')
        if not reason.strip():
            raise SystemExit('%s: %s has no reason' % (path, test_id.strip()))
        listed[test_id.strip()] = reason.strip()
    return listed
