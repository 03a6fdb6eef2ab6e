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
"""orphaned_allocations: what it asks and reads from nova-manage's answer.

A script stands in for ``nova-manage placement audit`` here; the real one
runs against real placement in
tests/functional/libvirt_cloud/test_libvirt_tokens.py (the control run's
leaked migration allocation is released).
"""

import pytest

from testbed.cloud import Cloud
from testbed.cloud import CloudError

LEAK = (
    'Allocations were set against consumer UUID %s but no existing '
    'instances or active migrations are related. '
)
A = '9de0767a-2b28-4c7a-9933-54c5c3bd0baa'
B = '5ffb4fa2-b044-47a0-961c-7f6b69e0b152'


def _cloud(tmp_path, stdout, rc):
    c = Cloud(base=str(tmp_path), say=lambda m: None)
    script = tmp_path / 'audit.sh'
    script.write_text(
        'echo "$@" >> %s/argv\ncat <<"EOF"\n%sEOF\nexit %d\n'
        % (tmp_path, stdout, rc)
    )
    c.bootstrap.nova_manage = lambda: ['sh', str(script)]
    return c


def test_returns_each_released_consumer_once_and_logs_the_answer(tmp_path):
    out = (
        ''.join(
            '%s\nDeleted allocations for consumer UUID %s on '
            'Resource Provider x: {}\n' % (LEAK % u, u)
            for u in (B, A, B)
        )
        + 'Processed 3 allocations.\n'
    )
    c = _cloud(tmp_path, out, 4)
    assert c.release_orphaned_allocations() == sorted([A, B])
    with open(c.layout.log('placement-audit')) as f:
        assert 'Processed 3 allocations.' in f.read()


def test_an_audit_without_delete_keeps_what_it_finds(tmp_path):
    """Exit 3 is nova-manage's "found, not deleted"; the check that fails a
    leaking session reads it without removing the evidence.
    """
    c = _cloud(tmp_path, LEAK % A + '\nProcessed 1 allocation.\n', 3)
    assert c.orphaned_allocations() == [A]
    argv = (tmp_path / 'argv').read_text()
    assert 'placement audit --verbose' in argv
    assert '--delete' not in argv


def test_nothing_orphaned_is_an_empty_list(tmp_path):
    assert (
        _cloud(
            tmp_path, 'Processed 0 allocations.\n', 0
        ).release_orphaned_allocations()
        == []
    )


def test_a_failed_audit_is_one_line_naming_the_log(tmp_path):
    c = _cloud(tmp_path, 'An error has occurred\n', 1)
    with pytest.raises(CloudError) as err:
        c.release_orphaned_allocations()
    assert 'placement audit --delete failed (exit 1)' in str(err.value)
    assert str(err.value).endswith(c.layout.log('placement-audit'))
