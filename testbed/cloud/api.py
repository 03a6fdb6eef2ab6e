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
"""The cloud admin's connection to the mini-cloud's APIs.

A keystoneauth password session scoped to the admin project, with
openstacksdk's service proxies on top (``conn.compute``, ``conn.identity``,
``conn.image``, ``conn.network``). The tool seeds and probes the cloud in
process through it: each ``openstack`` CLI start would cost about 2 s.
"""

from keystoneauth1.identity import v3
from keystoneauth1 import session as ks_session
from openstack import connection

from testbed.cloud import layout as lay


def connect(layout, timeout=60):
    """A new admin connection; it authenticates on its first request.

    :param timeout: seconds any one request may take.
    """
    auth = v3.Password(
        auth_url=layout.auth_url,
        username='admin',
        password=lay.ADMIN_PASSWORD,
        project_name='admin',
        user_domain_name='Default',
        project_domain_name='Default',
    )
    return connection.Connection(
        session=ks_session.Session(auth=auth, timeout=timeout),
        region_name=lay.REGION,
        interface='public',
        compute_api_version=lay.COMPUTE_API_VERSION,
    )
