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
# ministack.sh - the parts of devstack's stack.sh that decide which config
# file nova-compute starts with, in devstack's order, so that a devstack
# plugin can be judged without devstack. Modelled on openstack/devstack at
# commit 493835a61a996731a7031861f80c7629acd5d6f2 (2026-07-17): stack.sh,
# lib/nova, lib/nova_plugins/hypervisor-libvirt, lib/neutron, inc/async,
# inc/ini-config, inc/meta-config and functions-common's run_phase. Written
# for this project; no devstack code is copied.
#
#     ministack.sh PLUGIN_DIR [stack|clean]
#
# PLUGIN_DIR holds devstack/settings and devstack/plugin.sh. Needs
# MINISTACK_DIR (an empty directory: /etc/nova, local.conf and the call log
# live there). Optional: ENABLED_SERVICES (comma separated), LOCAL_CONF
# (a local.conf with [[post-config|...]] sections), MINISTACK_PYTHON (a
# python with nova; then the plugin's nova-livemigrate-status is the real
# one, run by that python in MINISTACK_CODE_DIR, default PLUGIN_DIR),
# MINISTACK_RACE=window|none (see
# configure_neutron_nova), and any LIVEMIGRATE_* setting.
#
# What it writes: $MINISTACK_DIR/calls (one recorded call a line) and, when
# nova-compute "starts", $MINISTACK_DIR/n-cpu.started.conf: a copy of the
# --config-file nova-compute was given, taken at that moment.
# shellcheck disable=SC2034

set -o errexit
set -o nounset
set -o pipefail

PLUGIN_DIR=$1
MODE=${2:-stack}
TOP_DIR=$MINISTACK_DIR
DEST=$MINISTACK_DIR/opt
NOVA_CONF_DIR=$MINISTACK_DIR/etc/nova
NOVA_CONF=$NOVA_CONF_DIR/nova.conf
NOVA_CPU_CONF=$NOVA_CONF_DIR/nova-cpu.conf
ENABLED_SERVICES=${ENABLED_SERVICES:-key,n-api,n-cond,n-cpu,placement-api,q-svc}
MINISTACK_RACE=${MINISTACK_RACE:-window}
SERVICE_PASSWORD=${SERVICE_PASSWORD:-secret}
# lib/nova's default, normalised as functions-common's trueorfalse does
case "${NOVA_USE_SERVICE_TOKEN:-True}" in
    [Ff]alse|FALSE|0|[Nn]o|NO|[Oo]ff|OFF) NOVA_USE_SERVICE_TOKEN=False ;;
    *) NOVA_USE_SERVICE_TOKEN=True ;;
esac
CALLS=$MINISTACK_DIR/calls
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

mkdir -p "$NOVA_CONF_DIR" "$DEST"
: > "$CALLS"
if [[ -n "${LOCAL_CONF:-}" ]]; then
    cp "$LOCAL_CONF" "$TOP_DIR/local.conf"
fi

function _record {
    echo "$*" >> "$CALLS"
}

# -- functions-common: what plugins call ------------------------------------

function die {
    local lineno=$1
    shift
    echo "ministack die (line $lineno): $*" >&2
    exit 1
}

function warn {
    echo "ministack warn: $*" >&2
}

function echo_summary {
    echo "ministack summary: $*"
}

function define_plugin {
    _record "define_plugin $*"
}

function enable_service {
    local svc
    for svc in "$@"; do
        [[ ",$ENABLED_SERVICES," == *",$svc,"* ]] ||
            ENABLED_SERVICES="$ENABLED_SERVICES,$svc"
    done
}

function disable_service {
    local svc list=",$ENABLED_SERVICES,"
    for svc in "$@"; do
        list=${list//,$svc,/,}
    done
    list=${list#,}
    ENABLED_SERVICES=${list%,}
}

# is_service_enabled: devstack also answers for a project name when one of
# its services (n-*) is enabled; "nova" is the only such name used here.
function is_service_enabled {
    local svc
    for svc in "$@"; do
        [[ ",$ENABLED_SERVICES," == *",$svc,"* ]] && return 0
        [[ "$svc" == nova && ",$ENABLED_SERVICES," == *",n-"* ]] && return 0
    done
    return 1
}

function setup_develop {
    _record "setup_develop $*"
}

function pip_uninstall {
    _record "pip_uninstall $*"
}

function openstack {
    _record "openstack $*"
}

# The plugin's check: the real console script's module when a python with
# nova is given, else only recorded.
function nova-livemigrate-status {
    _record "nova-livemigrate-status $*"
    if [[ -n "${MINISTACK_PYTHON:-}" ]]; then
        (cd "${MINISTACK_CODE_DIR:-$PLUGIN_DIR}" && "$MINISTACK_PYTHON" -m nova_ext.cmd.status "$@")
    fi
}

# run_process NAME COMMAND: nova-compute "starts": keep the --config-file
# it was given as it is at this moment.
function run_process {
    local name=$1
    local command=$2
    _record "run_process $name $command"
    local conf
    conf=${command##*--config-file }
    conf=${conf%% *}
    cp "$conf" "$MINISTACK_DIR/$name.started.conf"
}

# -- inc/ini-config: every edit replaces the whole file ----------------------
# devstack's ini functions run "sed -i", which writes a new file and renames
# it over the old one; _ini does the same (python, see ini.py).

function _ini {
    python3 -S "$HERE/ini.py" "$@"
}

function iniset {
    _ini set "$1" "$2" "$3" "$4"
}

function iniset_multiline {
    _ini multi "$@"
}

function iniadd_literal {
    _ini add "$1" "$2" "$3" "$4"
}

function inidelete {
    _ini delete "$1" "$2" "$3"
}

function iniget {
    _ini get "$1" "$2" "$3"
}

# -- inc/meta-config ---------------------------------------------------------

# merge_config_file LOCALCONF GROUP CONFIGFILE: CONFIGFILE is the literal
# text of the meta-section header, e.g. '$NOVA_CPU_CONF', matched as text
# and expanded only to find the file.
function merge_config_file {
    local file=$1 group=$2 configfile=$3
    [[ -r "$file" ]] || return 0
    local real
    real=$(eval echo "$configfile")
    _ini merge "$real" "$file" "$group" "$configfile"
}

function merge_config_group {
    local file=$1 group=$2
    [[ -r "$file" ]] || return 0
    local configfile
    for configfile in $(_ini meta-files "$file" "$group"); do
        merge_config_file "$file" "$group" "$configfile"
    done
}

# -- inc/async ---------------------------------------------------------------

declare -A _ASYNC_PIDS

# A run that dies between async_runfunc and async_wait must not leave its
# jobs behind: they are killed on exit.
function _async_kill_all {
    local pid
    for pid in "${_ASYNC_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
}
trap '_async_kill_all 2>/dev/null' EXIT

function async_runfunc {
    local name=$1
    if [[ "$MINISTACK_RACE" == none ]]; then
        "$name"
        return
    fi
    "$name" &
    _ASYNC_PIDS[$name]=$!
}

function async_wait {
    local name
    for name in "$@"; do
        touch "$MINISTACK_DIR/async-wait.$name"
        [[ -n "${_ASYNC_PIDS[$name]:-}" ]] || continue
        wait "${_ASYNC_PIDS[$name]}" || die $LINENO "async job $name failed"
        unset "_ASYNC_PIDS[$name]"
    done
}

# -- functions-common: run_phase, the plugin's entry ------------------------

function run_phase {
    local mode=$1 phase=${2:-}
    _record "run_phase $mode $phase"
    # shellcheck source=/dev/null
    source "$PLUGIN_DIR/devstack/plugin.sh" "$mode" "$phase"
    # devstack traces itself selectively: a plugin restores xtrace
    if [[ -o xtrace ]]; then
        _record "xtrace left on by $mode $phase"
    fi
}

# -- lib/nova, lib/nova_plugins/hypervisor-libvirt ---------------------------

# configure_nova: create_nova_conf removes nova.conf and writes it afresh (a
# selection of what lib/nova writes), then, on n-cpu hosts,
# configure_nova_hypervisor sets the driver.
function create_nova_conf {
    rm -f "$NOVA_CONF"
    iniset "$NOVA_CONF" DEFAULT debug True
    iniset "$NOVA_CONF" DEFAULT my_ip 192.0.2.10
    iniset "$NOVA_CONF" api response_validation error
    iniset "$NOVA_CONF" key_manager backend \
        nova.keymgr.conf_key_mgr.ConfKeyManager
    iniset "$NOVA_CONF" database connection mysql+pymysql://nova@db/nova_cell1
}

function configure_nova_hypervisor {
    iniset "$NOVA_CONF" libvirt virt_type qemu
    iniset "$NOVA_CONF" libvirt live_migration_uri \
        "qemu+ssh://stack@%s/system"
    iniset "$NOVA_CONF" DEFAULT compute_driver libvirt.LibvirtDriver
}

# lib/nova: [service_user] with the nova user's credentials
# (lib/keystone's configure_keystoneauth) only when NOVA_USE_SERVICE_TOKEN
# is True, its default.
function init_nova_service_user_conf {
    iniset "$NOVA_CONF" service_user send_service_user_token True
    iniset "$NOVA_CONF" service_user auth_type password
    iniset "$NOVA_CONF" service_user auth_url http://192.0.2.10/identity
    iniset "$NOVA_CONF" service_user username nova
    iniset "$NOVA_CONF" service_user password "$SERVICE_PASSWORD"
    iniset "$NOVA_CONF" service_user user_domain_name Default
    iniset "$NOVA_CONF" service_user project_name service
    iniset "$NOVA_CONF" service_user project_domain_name Default
}

function configure_nova {
    mkdir -p "$NOVA_CONF_DIR"
    create_nova_conf
    if [[ "$NOVA_USE_SERVICE_TOKEN" == "True" ]]; then
        init_nova_service_user_conf
    fi
    if is_service_enabled n-cpu; then
        configure_nova_hypervisor
    fi
}

function start_nova_compute {
    # $NOVA_CPU_CONF is nova.conf's copy plus local.conf's post-config
    # sections for '$NOVA_CPU_CONF' (bug #1802143 in lib/nova).
    cp "$NOVA_CONF" "$NOVA_CPU_CONF"
    # shellcheck disable=SC2016
    merge_config_file "$TOP_DIR/local.conf" post-config '$NOVA_CPU_CONF'
    iniset "$NOVA_CPU_CONF" workarounds disable_group_policy_check_upcall True
    iniset "$NOVA_CPU_CONF" filter_scheduler track_instance_changes False
    inidelete "$NOVA_CPU_CONF" database connection
    inidelete "$NOVA_CPU_CONF" api_database connection
    iniset "$NOVA_CPU_CONF" DEFAULT reimage_timeout_per_gb 180
    iniset "$NOVA_CPU_CONF" workarounds libvirt_disable_apic True
    run_process n-cpu "nova-compute --config-file $NOVA_CPU_CONF"
}

# -- lib/neutron: configure_neutron_nova -------------------------------------
# stack.sh starts it with async_runfunc before the post-config phase and
# waits for it after post-config and local.conf's merge. Its iniset calls
# each read nova.conf and rename a new one over it, so an edit another
# process makes to nova.conf between such a read and its rename is lost.
# MINISTACK_RACE=window plays the widest such interleaving stack.sh
# allows: the job reads nova.conf when it starts and renames its edited
# copy over it when stack.sh reaches async_wait. MINISTACK_RACE=none runs
# the job to its end where async_runfunc is called, before post-config.
function configure_neutron_nova {
    local work="$MINISTACK_DIR/nova.conf.neutron"
    cp "$NOVA_CONF" "$work"
    local signal="$MINISTACK_DIR/async-wait.configure_neutron_nova"
    local waited=0
    if [[ "$MINISTACK_RACE" == window ]]; then
        while [[ ! -e "$signal" ]]; do
            sleep 0.05
            waited=$((waited + 1))
            # 10 minutes: never poll forever
            [[ $waited -lt 12000 ]] || exit 1
        done
    fi
    iniset "$work" neutron auth_type password
    iniset "$work" neutron region_name RegionOne
    iniset "$work" neutron service_metadata_proxy True
    iniset "$work" DEFAULT vif_plugging_is_fatal True
    iniset "$work" DEFAULT vif_plugging_timeout 300
    mv "$work" "$NOVA_CONF"
}

# -- stack.sh ----------------------------------------------------------------

function stack {
    run_phase stack pre-install
    if is_service_enabled nova; then
        configure_nova
    fi
    run_phase stack install
    if is_service_enabled nova; then
        async_runfunc configure_neutron_nova
    fi
    run_phase stack post-config
    merge_config_group "$TOP_DIR/local.conf" post-config
    async_wait configure_neutron_nova
    iniset "$NOVA_CONF" key_manager fixed_key 0123456789abcdef
    iniset "$NOVA_CPU_CONF" key_manager fixed_key 0123456789abcdef
    if is_service_enabled n-cpu; then
        start_nova_compute
    fi
    merge_config_group "$TOP_DIR/local.conf" extra
    run_phase stack extra
    merge_config_group "$TOP_DIR/local.conf" post-extra
    run_phase stack test-config
}

# shellcheck source=/dev/null
source "$PLUGIN_DIR/devstack/settings"
case "$MODE" in
    stack) stack ;;
    clean) run_phase clean ;;
    *) die $LINENO "unknown mode $MODE" ;;
esac
echo "ministack: $MODE done"
