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
"""Install what the mini-cloud needs, once: Debian packages and pinned
virtualenvs.

Three venvs, because glance and neutron pin dependencies differently from nova:
``main`` (nova, keystone, placement, python-openstackclient), ``glance``,
``neutron``. A venv is rebuilt only when its requirements file changes (a hash
stamp inside it).
"""

import hashlib
import os
import shutil
import subprocess
import sys

from testbed.cloud import procs
from testbed.cloud.procs import CloudError

APT_PACKAGES = ('mariadb-server', 'rabbitmq-server')
VENVS = ('main', 'glance', 'neutron')
REQUIREMENTS_DIR = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), 'requirements'
)
STAMP = '.testbed-cloud-requirements.sha256'


def requirements_file(venv):
    return os.path.join(REQUIREMENTS_DIR, venv + '.txt')


def missing_apt_packages(packages=APT_PACKAGES):
    missing = []
    for pkg in packages:
        r = subprocess.run(
            ['dpkg-query', '-W', '-f=${Status}', pkg],
            capture_output=True,
            text=True,
        )
        if r.returncode != 0 or 'install ok installed' not in r.stdout:
            missing.append(pkg)
    return missing


def ensure_apt(log, packages=APT_PACKAGES, say=print):
    """apt-get install the missing packages (waits for another apt to
    finish).
    """
    missing = missing_apt_packages(packages)
    if not missing:
        return False
    if shutil.which('apt-get') is None:
        raise CloudError(
            'install',
            'apt-get not found; install %s by hand' % ' '.join(missing),
        )
    say('installing Debian packages: %s' % ' '.join(missing))
    env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
    lock = ['-o', 'DPkg::Lock::Timeout=900']
    for argv in (
        ['apt-get'] + lock + ['update'],
        ['apt-get']
        + lock
        + ['install', '-y', '--no-install-recommends']
        + missing,
    ):
        procs.run_logged(
            argv,
            log,
            'install',
            '%s failed' % ' '.join(argv[:1] + argv[3:4]),
            env=env,
        )
    still = missing_apt_packages(packages)
    if still:
        raise CloudError(
            'install',
            'packages still missing after apt-get: %s' % ' '.join(still),
            log,
        )
    return True


def _hash(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def venv_ready(venv_dir, venv):
    try:
        with open(os.path.join(venv_dir, STAMP)) as f:
            return f.read().strip() == _hash(requirements_file(venv))
    except OSError:
        return False


def base_python():
    """The interpreter to build venvs with (the real one, even if we run inside
    a venv).
    """
    return getattr(sys, '_base_executable', None) or sys.executable


def ensure_venv(venv_dir, venv, log, say=print):
    """Create venv_dir and pip-install its pinned requirements, unless already
    done.
    """
    if venv_ready(venv_dir, venv):
        return False
    say(
        'building venv %s (pip install -r %s)'
        % (venv_dir, os.path.basename(requirements_file(venv)))
    )
    py = os.path.join(venv_dir, 'bin', 'python')
    if not os.path.exists(py):
        procs.run_logged(
            [base_python(), '-m', 'venv', venv_dir],
            log,
            'install',
            'python -m venv %s failed (on Debian: apt-get install '
            'python3-venv)' % venv_dir,
        )
    procs.run_logged(
        [
            py,
            '-m',
            'pip',
            'install',
            '--disable-pip-version-check',
            '-r',
            requirements_file(venv),
        ],
        log,
        'install',
        'pip install into venv %s failed' % venv,
    )
    with open(os.path.join(venv_dir, STAMP), 'w') as f:
        f.write(_hash(requirements_file(venv)) + '\n')
    return True
