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
"""Whether a service of the mini-cloud answers.

Each probe returns None when the service answers, else a short reason
(``nothing answers on 127.0.0.1:5672 (Connection refused)``): ``up`` waits
for None, ``status`` prints the reason.
"""

import socket
import urllib.error
import urllib.request

from testbed.cloud import layout as lay


def probe_tcp(host, port, timeout=2.0):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as e:
        return 'nothing answers on %s:%d (%s)' % (host, port, e.strerror or e)


def probe_mysql(host, port, timeout=2.0):
    """A MySQL/MariaDB server greets first: protocol version 10 in its first
    packet.
    """
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            data = s.recv(64)
    except OSError as e:
        return 'nothing answers on %s:%d (%s)' % (host, port, e.strerror or e)
    # 10: a handshake; 0xff: an error packet, e.g. "Host is not allowed"
    # before the database user exists, which still proves the server answers.
    if len(data) > 4 and data[4] in (10, 0xFF):
        return None
    return 'no MySQL greeting on %s:%d' % (host, port)


def probe_amqp(host, port, timeout=3.0):
    """Send the AMQP 0-9-1 header; a broker answers with a Connection.Start
    frame.
    """
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(b'AMQP\x00\x00\x09\x01')
            data = s.recv(16)
    except OSError as e:
        return 'nothing answers on %s:%d (%s)' % (host, port, e.strerror or e)
    if data[:1] == b'\x01':
        return None
    return 'no AMQP answer on %s:%d' % (host, port)


def probe_http(url, timeout=5.0):
    """Any HTTP answer below 500 counts (APIs answer / with 300 or 401)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            status = r.status
    except urllib.error.HTTPError as e:
        status = e.code
    except (OSError, ValueError) as e:
        reason = getattr(e, 'reason', e)
        return 'no HTTP answer from %s (%s)' % (url, reason)
    if status >= 500:
        return 'HTTP %d from %s' % (status, url)
    return None


def port_free(host, port):
    """True if nothing listens on host:port."""
    return probe_tcp(host, port, timeout=0.5) is not None


class Probes:
    """The probes of one cloud, by what the service table names.

    :param layout: the cloud's :class:`testbed.cloud.layout.Layout`.
    :param connection: callable returning an admin openstacksdk connection
        (see :mod:`testbed.cloud.api`); nova's own services are judged by
        nova-api.
    """

    def __init__(self, layout, connection):
        self.layout = layout
        self._connection = connection

    def tcp(self, port):
        return probe_tcp(lay.HOST, self.layout.ports[port])

    def mysql(self, port):
        return probe_mysql(lay.HOST, self.layout.ports[port])

    def amqp(self, port):
        return probe_amqp(lay.HOST, self.layout.ports[port])

    def http(self, service):
        return probe_http(api_root(self.layout, service))

    def nova_service(self, binary, host=None):
        """nova-api lists the service as up."""
        query = {'binary': binary}
        if host:
            query['host'] = host
        try:
            services = list(self._connection().compute.services(**query))
        except Exception as e:  # any failure just means "not yet"
            return 'cannot ask nova-api for %s (%s)' % (binary, e)
        if any(s.state == 'up' for s in services):
            return None
        return '%s is not reported up by nova-api' % binary

    def hypervisor(self, host):
        """host's nova-compute is up and nova-api lists its hypervisor (only
        once ``discover_hosts`` mapped the host).
        """
        reason = self.nova_service('nova-compute', host)
        if reason:
            return reason
        try:
            found = list(
                self._connection().compute.hypervisors(
                    hypervisor_hostname_pattern=host
                )
            )
        except Exception as e:  # nova-api answers 404 for no match
            why = getattr(e, 'status_code', None) or e
            return 'no hypervisor %s yet (%s)' % (host, why)
        if not found:
            return 'no hypervisor %s yet' % host
        return None


def api_root(layout, service):
    """The URL an API answers on when it is up (keystone: its v3 root)."""
    return layout.url(service, '/v3/' if service == 'keystone' else '/')
