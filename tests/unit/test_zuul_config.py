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
""".zuul.yaml refers only to names that exist upstream and here.

The upstream names were read at these commits (Zuul cannot be run here):

- openstack/nova 00a030403f672b975364c855b7d25b40ef83e757, .zuul.yaml:
  job ``nova-live-migration`` (parent ``tempest-multinode-full-py3``).
- openstack/tempest fa340b1f5fff8f57a018be206644c81b6d36b3d4,
  zuul.d/integrated-gate.yaml: job ``tempest-multinode-full-py3``.
- openstack/devstack 493835a61a996731a7031861f80c7629acd5d6f2: lib/tempest
  reads ``LIVE_MIGRATION_AVAILABLE`` and
  ``USE_BLOCK_MIGRATION_FOR_LIVE_MIGRATION``; the
  write-devstack-local-conf role takes ``devstack_plugins``,
  ``devstack_services``, ``devstack_localrc``, ``devstack_local_conf``;
  the two-node nodesets name the node ``controller`` and the group
  ``subnode``.
- openstack/openstack-zuul-jobs b8ff5c89c4a513c8d24a9aa0ab13c7b7fb29a641,
  zuul.d: the templates and jobs listed in ``OPENSTACK_ZUUL_JOBS``, the
  job ``openstack-tox`` (its ``tox_envlist`` variable) and the nodeset
  ``ubuntu-jammy`` its jobs use; ``openstack-cover-jobs`` runs
  ``openstack-tox-cover``, which runs tox's ``cover`` environment.
- openstack/openstackclient ce739b262913b5fe56581956deec45e6d1d65914,
  .zuul.yaml: the project-template ``openstackclient-plugin-jobs`` (its
  non-voting ``openstackclient-check-plugins`` reports duplicate commands),
  which python-openstackclient's plugin guide asks every plugin to use.
"""

import configparser
import pathlib
import re

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
UPSTREAM_JOBS = {
    'nova-live-migration',
    'tempest-multinode-full-py3',
    'openstack-tox',
}
NODESETS = {'ubuntu-jammy'}
OPENSTACK_ZUUL_JOBS = {
    'openstack-python3-jobs',
    'publish-openstack-docs-pti',
    'release-notes-jobs-python3',
    'openstack-tox-pep8',
    'openstack-tox-docs',
    'openstack-cover-jobs',
}
OPENSTACKCLIENT_TEMPLATES = {'openstackclient-plugin-jobs'}
DEVSTACK_JOB_VARS = {
    'devstack_plugins',
    'devstack_services',
    'devstack_localrc',
    'devstack_local_conf',
}
TEMPEST_LOCALRC = {
    'LIVE_MIGRATION_AVAILABLE',
    'USE_BLOCK_MIGRATION_FOR_LIVE_MIGRATION',
}
DEVSTACK_GROUPS = {'subnode'}
DEVSTACK_NODES = {'controller'}


def _zuul():
    items = yaml.safe_load((ROOT / '.zuul.yaml').read_text())
    jobs = {i['job']['name']: i['job'] for i in items if 'job' in i}
    (project,) = [i['project'] for i in items if 'project' in i]
    return jobs, project


def _settings_names():
    text = (ROOT / 'devstack' / 'settings').read_text()
    variables = set(re.findall(r'^(LIVEMIGRATE_\w+)=', text, re.M))
    plugin = re.search(r'^define_plugin (\S+)', text, re.M).group(1)
    services = set(re.findall(r'^enable_service (\S+)', text, re.M))
    return variables, plugin, services


def _multinode():
    jobs, _ = _zuul()
    return jobs['osc-livemigrate-multinode']


def test_every_job_parent_exists_upstream_or_here():
    jobs, project = _zuul()
    for job in jobs.values():
        parent = job.get('parent')
        assert parent in UPSTREAM_JOBS | set(jobs), parent
    assert _multinode()['parent'] in UPSTREAM_JOBS
    for job in jobs.values():
        assert job.get('nodeset', 'ubuntu-jammy') in NODESETS
    for pipeline in ('check', 'gate'):
        for name in project[pipeline]['jobs']:
            assert name in set(jobs) | OPENSTACK_ZUUL_JOBS, name
    for template in project['templates']:
        assert template in OPENSTACK_ZUUL_JOBS | OPENSTACKCLIENT_TEMPLATES, (
            template
        )


def _setup():
    setup = configparser.ConfigParser(interpolation=None)
    setup.read(ROOT / 'setup.cfg')
    return setup


def _tox():
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(ROOT / 'tox.ini')
    return tox


def test_an_openstackclient_plugin_runs_openstackclients_plugin_check():
    _, project = _zuul()
    assert 'openstack.cli.extension' in _setup()['entry_points']
    assert 'openstackclient-plugin-jobs' in project['templates']


def test_the_plugin_check_is_told_why_we_duplicate_core_commands():
    # NOTE: the check flags every command we share with core; the docs
    # say which, and that it is on purpose.
    cli = (ROOT / 'doc' / 'source' / 'cli' / 'index.rst').read_text()
    assert 'openstackclient-check-plugins' in cli
    core = {
        'server migrate',
        'server migration list',
        'server migration show',
        'server migration abort',
        'server migration force complete',
    }
    ours = {
        line.split('=')[0].strip().replace('_', ' ')
        for line in _setup()['entry_points']['openstack.livemigrate.v1']
        .strip()
        .splitlines()
    }
    assert core <= ours
    for command in core:
        assert '``%s``' % command in cli, command


def test_cover_template_has_a_cover_env():
    _, project = _zuul()
    assert 'openstack-cover-jobs' in project['templates']
    env = _tox()['testenv:cover']
    assert 'coverage' in env['deps']
    commands = env['commands']
    assert 'coverage run -m pytest' in commands
    assert 'cover/coverage.xml' in commands
    assert {'osc_livemigrate', 'nova_ext'} <= set(
        _tox()['coverage:run']['source'].split()
    )


def test_gitreview_names_the_project_zuul_checks_out():
    review = configparser.ConfigParser()
    review.read(ROOT / '.gitreview')
    project = review['gerrit']['project'].removesuffix('.git')
    assert review['gerrit']['host'] == 'review.opendev.org'
    assert project in _multinode()['required-projects']
    assert project in _setup()['metadata']['home_page']


def test_devstack_vars_are_the_names_devstack_reads():
    job = _multinode()
    sections = [job['vars']] + list(job['group-vars'].values())
    assert set(job['group-vars']) <= DEVSTACK_GROUPS
    variables, plugin, services = _settings_names()
    for section in sections:
        devstack_vars = {k for k in section if k.startswith('devstack_')}
        assert devstack_vars <= DEVSTACK_JOB_VARS, devstack_vars
        # the plugin on every node, under the name settings defines
        assert set(section['devstack_plugins']) == {plugin}
        assert section['devstack_services'] == {s: True for s in services}
        localrc = section['devstack_localrc']
        for name in localrc:
            assert name in TEMPEST_LOCALRC | variables, name
        # tempest's live-migration switches on, on every node
        assert {localrc[n] for n in TEMPEST_LOCALRC} == {True}


def test_lower_constraints_job_runs_the_tox_env():
    jobs, _ = _zuul()
    job = jobs['osc-livemigrate-tox-lower-constraints']
    assert 'testenv:%s' % job['vars']['tox_envlist'] in _tox()


def test_post_run_drives_our_commands_on_the_controller():
    job = _multinode()
    playbook = ROOT / job['post-run']
    plays = yaml.safe_load(playbook.read_text())
    assert {p['hosts'] for p in plays} <= DEVSTACK_NODES
    script = '\n'.join(t['shell']['cmd'] for p in plays for t in p['tasks'])
    setup = configparser.ConfigParser()
    setup.read(ROOT / 'setup.cfg')
    ours = {
        line.split('=')[0].strip().replace('_', ' ')
        for line in setup['entry_points']['openstack.livemigrate.v1']
        .strip()
        .splitlines()
    }
    used = {
        cmd
        for cmd in ours
        if re.search(r'openstack %s( |$)' % re.escape(cmd), script, re.M)
    }
    assert {
        'server migrate',
        'server migration list',
        'server migration watch',
    } <= used
    assert '--policy adaptive' in script
