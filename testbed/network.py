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
"""Network namespaces, veths and the bridge that join the test hosts.

Every name is derived from a prefix, so teardown can find and remove what a
crashed run left behind without any saved state.
"""

import os
import subprocess

NETNS_DIR = '/run/netns'


def _ip(*args, check=True):
    result = subprocess.run(('ip',) + args, capture_output=True, text=True)
    if check and result.returncode:
        raise RuntimeError(
            'ip %s failed: %s' % (' '.join(args), result.stderr.strip())
        )
    return result


def netns_exists(netns):
    """Say whether the named network namespace exists."""
    return os.path.exists(os.path.join(NETNS_DIR, netns))


def link_exists(name, netns=None):
    """Say whether a link exists (in the root namespace unless ``netns``)."""
    args = ('-n', netns) if netns else ()
    return _ip(*args, 'link', 'show', 'dev', name, check=False).returncode == 0


def plug_host(bridge, netns, veth, address):
    """Create ``netns`` and wire its eth0 (``address``/24) to ``bridge``.

    :param bridge: bridge in the root namespace (created if missing).
    :param netns: namespace name.
    :param veth: name of the root-side end of the veth pair.
    :param address: IPv4 address of eth0 inside the namespace.
    """
    if not link_exists(bridge):
        _ip('link', 'add', bridge, 'type', 'bridge')
    _ip('link', 'set', bridge, 'up')
    if not netns_exists(netns):
        _ip('netns', 'add', netns)
    inner = netns + '-in'  # renamed to eth0 once inside the namespace
    _ip('link', 'add', veth, 'type', 'veth', 'peer', 'name', inner)
    _ip('link', 'set', veth, 'master', bridge, 'up')
    _ip('link', 'set', inner, 'netns', netns)
    _ip('-n', netns, 'link', 'set', 'lo', 'up')
    _ip('-n', netns, 'link', 'set', inner, 'name', 'eth0')
    _ip('-n', netns, 'addr', 'add', address + '/24', 'dev', 'eth0')
    _ip('-n', netns, 'link', 'set', 'eth0', 'up')


def set_link(veth, up):
    """Bring a host's root-side veth up or down (cuts the host off)."""
    _ip('link', 'set', veth, 'up' if up else 'down')


def remove(bridge, netns_names, veths):
    """Delete namespaces, veths and the bridge; missing ones are fine."""
    for veth in veths:
        if link_exists(veth):
            _ip('link', 'del', veth, check=False)
    for netns in netns_names:
        if netns_exists(netns):
            _ip('netns', 'del', netns)
    if link_exists(bridge):
        _ip('link', 'del', bridge)


def leftovers(bridge, netns_names, veths):
    """Return a description of every named network object still present."""
    found = ['netns %s' % n for n in netns_names if netns_exists(n)]
    found += ['link %s' % v for v in veths if link_exists(v)]
    if link_exists(bridge):
        found.append('bridge %s' % bridge)
    return found
