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
"""Sphinx configuration of osc-livemigrate's documentation (tox -e docs)."""

import os
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), '_exts'))
# NOTE: appended, not prepended: the extension needs ``benchmarks`` from the
# tree, but the commands' entry points must come from the installed package,
# not from a stale osc_livemigrate.egg-info a develop install left in ROOT.
sys.path.append(ROOT)

extensions = [
    'openstackdocstheme',
    'cliff.sphinxext',
    'oslo_config.sphinxext',
    'policy_benchmark',
]

# openstackdocstheme
openstackdocs_repo_name = 'x/osc-livemigrate'
openstackdocs_bug_project = 'osc-livemigrate'
openstackdocs_bug_tag = 'doc'
openstackdocs_auto_name = False

# cliff's autoprogram-cliff: commands are shown as "openstack <command>"
autoprogram_cliff_application = 'openstack'

project = 'osc-livemigrate'
copyright = 'osc-livemigrate developers'
master_doc = 'index'
exclude_patterns = ['_build']
pygments_style = 'native'
html_theme = 'openstackdocs'
html_static_path = []
