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
"""Pure parts of the host setup: names, paths, configs, apt sources."""

import os
import tempfile
import unittest

from testbed import hostpkgs
from testbed import hosts
from testbed import libvirtd


class TestHostPairNames(unittest.TestCase):
    def test_names_and_addresses_derive_from_prefix_and_subnet(self):
        pair = hosts.HostPair('/srv/lmx', prefix='lq', subnet='10.9.8')
        self.assertEqual(pair.netns('A'), 'lqA')
        self.assertEqual(pair.bridge, 'lqbr0')
        self.assertEqual(pair.veth('B'), 'lqB-br')
        self.assertEqual(pair.address('B'), '10.9.8.12')
        self.assertEqual(pair.uri('A'), 'qemu+tcp://10.9.8.11/system')
        self.assertEqual(pair.migration_uri('B'), 'tcp://10.9.8.12')
        self.assertEqual(
            pair.local_uri('A'),
            'qemu+unix:///system?socket=/srv/lmx/hosts/lqA/sock/libvirt-sock',
        )
        self.assertNotEqual(pair.host_uuid('A'), pair.host_uuid('B'))
        self.assertEqual(
            pair.host_uuid('A'),
            hosts.HostPair('/x', prefix='lq').host_uuid('A'),
        )
        with self.assertRaises(ValueError):
            pair.netns('C')

    def test_workdir_must_not_be_remapped_inside_hosts(self):
        for bad in ('/var/lib/x', '/run', '/etc/libvirt/w'):
            with self.assertRaisesRegex(ValueError, 'remaps'):
                hosts.check_workdir(bad)
        self.assertEqual(hosts.check_workdir('/variable/w'), '/variable/w')


class TestDaemonConfig(unittest.TestCase):
    def test_configs_bind_each_host_to_its_own_address(self):
        conf = libvirtd.libvirtd_conf('10.1.2.11', 'uuid-a', '/s', '/l')
        self.assertIn('listen_addr = "10.1.2.11"', conf)
        self.assertIn('host_uuid = "uuid-a"', conf)
        self.assertIn('listen_tls = 0', conf)
        qemu = libvirtd.qemu_conf('10.1.2.11')
        self.assertIn('migration_address = "10.1.2.11"', qemu)
        self.assertIn('cgroup_controllers = [ ]', qemu)
        self.assertEqual(
            libvirtd.hosts_file({'lmB': '1.1.1.2'}),
            '127.0.0.1 localhost\n1.1.1.2 lmB\n',
        )


class TestHostPackages(unittest.TestCase):
    def test_backports_stanza_reuses_the_configured_mirror(self):
        sources = [
            (
                'http://mirror/debian',
                ['bookworm', 'bookworm-updates'],
                ['main'],
            ),
            ('http://mirror/security', ['bookworm-security'], []),
        ]
        stanza = hostpkgs.backports_source(sources)
        self.assertIn('URIs: http://mirror/debian\n', stanza)
        self.assertIn('Suites: bookworm-backports\n', stanza)
        sources.append(('http://m', ['bookworm-backports'], ['main']))
        self.assertIsNone(hostpkgs.backports_source(sources))
        with self.assertRaises(RuntimeError):
            hostpkgs.backports_source([('http://m', ['trixie'], ['main'])])

    def test_debian_major_reads_numbers_and_codenames(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, 'debian_version')
            for text, major in (
                ('12.11\n', 12),
                ('13.0', 13),
                ('trixie/sid\n', 13),
            ):
                with open(path, 'w') as f:
                    f.write(text)
                self.assertEqual(hostpkgs.debian_major(path), major)
