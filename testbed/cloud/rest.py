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
"""A minimal OpenStack REST client on the standard library.

The tool creates its keystone objects, flavors, image and network over REST:
each ``openstack`` CLI start costs about 2 s, and the tool must run before any
venv with a client exists.
"""

import json
import urllib.error
import urllib.request


class RestError(Exception):
    def __init__(self, method, url, status, body):
        self.status = status
        super().__init__(
            '%s %s -> HTTP %s: %s' % (method, url, status, body[:300])
        )


def request(method, url, body=None, headers=None, timeout=60, raw=None):
    """Send one request; return (status, headers, parsed JSON or None)."""
    hdrs = {'Accept': 'application/json'}
    data = None
    if raw is not None:
        data = raw
        hdrs['Content-Type'] = 'application/octet-stream'
    elif body is not None:
        data = json.dumps(body).encode()
        hdrs['Content-Type'] = 'application/json'
    hdrs.update(headers or {})
    req = urllib.request.Request(url, data=data, headers=hdrs, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            text = r.read()
            status, rheaders = r.status, r.headers
    except urllib.error.HTTPError as e:
        raise RestError(method, url, e.code, e.read().decode(errors='replace'))
    parsed = json.loads(text) if text.strip() else None
    return status, rheaders, parsed


class Session:
    """A password-scoped keystone v3 session with the service catalog."""

    def __init__(
        self,
        auth_url,
        username,
        password,
        project,
        domain='Default',
        interface='public',
    ):
        self.auth_url = auth_url.rstrip('/')
        body = {
            'auth': {
                'identity': {
                    'methods': ['password'],
                    'password': {
                        'user': {
                            'name': username,
                            'domain': {'name': domain},
                            'password': password,
                        }
                    },
                },
                'scope': {
                    'project': {'name': project, 'domain': {'name': domain}}
                },
            }
        }
        _, headers, parsed = request(
            'POST', self.auth_url + '/auth/tokens', body
        )
        self.token = headers['X-Subject-Token']
        self.catalog = parsed['token'].get('catalog', [])
        self.interface = interface

    def endpoint(self, service_type):
        for svc in self.catalog:
            if svc['type'] == service_type:
                for ep in svc['endpoints']:
                    if ep['interface'] == self.interface:
                        return ep['url'].rstrip('/')
        raise LookupError(
            'no %s endpoint for %s in the catalog'
            % (self.interface, service_type)
        )

    def call(
        self,
        method,
        service_type,
        path,
        body=None,
        headers=None,
        raw=None,
        timeout=60,
    ):
        base = (
            self.auth_url
            if service_type == 'identity'
            else self.endpoint(service_type)
        )
        hdrs = {'X-Auth-Token': self.token}
        if service_type == 'compute':
            hdrs['OpenStack-API-Version'] = 'compute 2.95'
        hdrs.update(headers or {})
        return request(
            method, base + path, body, hdrs, timeout=timeout, raw=raw
        )[2]

    def get(self, service_type, path):
        return self.call('GET', service_type, path)

    def post(self, service_type, path, body):
        return self.call('POST', service_type, path, body)

    def put(self, service_type, path, body=None, raw=None, headers=None):
        return self.call(
            'PUT', service_type, path, body, raw=raw, headers=headers
        )
