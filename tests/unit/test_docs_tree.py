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
"""The generated doc pages point at names that exist, and the floors agree.

``tox -e docs`` (warnings as errors) proves the tree builds; these checks
run in every unit run and name the culprit when an entry-point group or
namespace is renamed under the docs, or when one file states another
Python floor than the rest.
"""

import configparser
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOC = ROOT / 'doc' / 'source'
CLI_FLOOR = '3.10'
DRIVER_FLOOR = '3.11'


def _entry_points():
    setup = configparser.ConfigParser()
    setup.read(ROOT / 'setup.cfg')
    groups = {}
    for group, body in setup['entry_points'].items():
        groups[group] = {
            line.split('=')[0].strip()
            for line in body.strip().splitlines()
            if '=' in line
        }
    return setup, groups


def _directive(page, name):
    text = (DOC / page).read_text()
    return re.findall(r'^\.\. %s:: (\S+)' % re.escape(name), text, re.M)


def test_cli_reference_documents_the_command_group():
    _, groups = _entry_points()
    (group,) = _directive('cli/index.rst', 'autoprogram-cliff')
    assert group in groups
    assert groups[group], group


def test_option_reference_documents_the_oslo_config_namespace():
    _, groups = _entry_points()
    (namespace,) = _directive('configuration/index.rst', 'show-options')
    assert namespace in groups['oslo.config.opts']


def test_policy_page_renders_the_benchmark_results():
    page = (DOC / 'admin' / 'choosing-a-policy.rst').read_text()
    assert re.search(r'^\.\. policy-benchmark-table::$', page, re.M)
    ext = (DOC / '_exts' / 'policy_benchmark.py').read_text()
    results = re.search(r'RESULTS = os.path.join\(([^)]*)\)', ext).group(1)
    parts = [p.strip().strip("'") for p in results.split(',')]
    assert (ROOT.joinpath(*parts)).is_file()


def test_python_floors_agree():
    setup, _ = _entry_points()
    assert setup['metadata']['python_requires'] == '>=%s' % CLI_FLOOR
    classifiers = setup['metadata']['classifier']
    assert 'Python :: %s' % CLI_FLOOR in classifiers
    readme = (ROOT / 'README.md').read_text()
    install = (DOC / 'install' / 'index.rst').read_text()
    contributing = (ROOT / 'CONTRIBUTING.rst').read_text()
    for text in (readme, install, contributing):
        assert re.search(r'Python\s+%s' % re.escape(CLI_FLOOR), text) or (
            '%s or later' % CLI_FLOOR in text
        )
        assert DRIVER_FLOOR in text
    # no other floor anywhere in them
    for text in (readme, install, contributing):
        floors = set(re.findall(r'(3\.\d+)(?:\+| or later)', text))
        assert floors <= {CLI_FLOOR, DRIVER_FLOOR}, floors
