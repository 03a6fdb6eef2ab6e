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
"""Tests for the broken post-copy's window and fault message."""

import doctest
import unittest

from nova_ext.core import recovery


class TestWindow(unittest.TestCase):
    def test_docstring_examples(self):
        result = doctest.testmod(recovery)
        self.assertEqual((0, 3), (result.failed, result.attempted))

    def test_no_break_or_no_window_never_ends(self):
        self.assertFalse(recovery.window_over(None, 1e9, 60))
        self.assertFalse(recovery.window_over(5.0, 1e9, None))
        self.assertFalse(recovery.window_over(5.0, 1e9, 0))

    def test_ends_exactly_at_the_window(self):
        self.assertFalse(recovery.window_over(5.0, 64.9, 60))
        self.assertTrue(recovery.window_over(5.0, 65.0, 60))


class TestLostMessage(unittest.TestCase):
    def test_says_where_the_memory_is_and_what_to_do(self):
        message = recovery.lost_message('src-1', 'dst-2', 1234.9)
        self.assertIn('lost dst-2 for 1234 s', message)
        self.assertIn('newest memory is on dst-2, the rest on src-1', message)
        self.assertIn('--postcopy-resume', message)
        self.assertIn('delete the server', message)

    def test_long_host_names_still_fit_a_nova_fault(self):
        message = recovery.lost_message('s' * 300, 'd' * 300, 10**7)
        self.assertLessEqual(len(message), recovery.FAULT_MESSAGE_MAX)
        self.assertTrue(message.endswith('or delete the server.'), message)
