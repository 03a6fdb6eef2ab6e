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
"""Shim: ``compute_driver = livemigrate.LibvirtDriver`` loads nova_ext's
driver.

nova imports ``nova.virt.<compute_driver>``, so this single file is
installed into nova's namespace; it carries no code of its own. If the
extension it points to is missing or does not match this nova, it stops
the service with one line instead of a traceback.
"""

try:
    from nova_ext.compute.driver import LibvirtDriver  # noqa: F401
except ImportError as exc:  # the shim outlived the package, or vice versa
    raise SystemExit(
        'nova-compute: compute_driver livemigrate.LibvirtDriver cannot be '
        'loaded (%s); reinstall osc-livemigrate or set compute_driver = '
        'libvirt.LibvirtDriver' % exc
    )
