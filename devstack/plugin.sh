#!/bin/bash
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
#
# osc-livemigrate devstack plugin: mode/phase dispatch only; the bodies
# live in lib/osc-livemigrate. devstack runs it as
#     source plugin.sh <mode> [phase]

# Save trace setting
_XTRACE_LIVEMIGRATE=$(set +o | grep xtrace)
set -o xtrace

# shellcheck source=devstack/lib/osc-livemigrate
source "$(dirname "${BASH_SOURCE[0]}")/lib/osc-livemigrate"

if is_service_enabled livemigrate; then
    if [[ "$1" == "stack" && "$2" == "install" ]]; then
        echo_summary "Installing and configuring osc-livemigrate"
        install_livemigrate
        # NOTE(livemigrate): not at post-config: start_nova_compute
        # rebuilds $NOVA_CPU_CONF from $NOVA_CONF after it, and
        # configure_neutron_nova edits $NOVA_CONF concurrently with it
        # (lib/osc-livemigrate explains).
        configure_livemigrate
    elif [[ "$1" == "stack" && "$2" == "extra" ]]; then
        echo_summary "Checking osc-livemigrate"
        start_livemigrate
    elif [[ "$1" == "stack" && "$2" == "test-config" ]]; then
        echo_summary "osc-livemigrate: no tempest settings"
    fi

    if [[ "$1" == "unstack" ]]; then
        # NOTE(livemigrate): nova-compute is nova's service, nova stops it.
        stop_livemigrate
    fi

    if [[ "$1" == "clean" ]]; then
        echo_summary "Removing osc-livemigrate"
        cleanup_livemigrate
    fi
fi

# Restore xtrace
$_XTRACE_LIVEMIGRATE
unset _XTRACE_LIVEMIGRATE
