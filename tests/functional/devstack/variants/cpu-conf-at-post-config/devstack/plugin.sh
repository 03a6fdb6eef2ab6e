#!/bin/bash
# A wrong devstack plugin the harness must fail: what the plugin did up to
# commit 6106346, the real configure body aimed at $NOVA_CPU_CONF at
# post-config, which start_nova_compute then rebuilds from $NOVA_CONF.
# shellcheck source=devstack/lib/osc-livemigrate
source "$LIVEMIGRATE_DIR/devstack/lib/osc-livemigrate"
if [[ "$1" == "stack" && "$2" == "install" ]]; then
    install_livemigrate
elif [[ "$1" == "stack" && "$2" == "post-config" ]]; then
    # devstack's iniset creates the missing file, as it did for that plugin
    touch "$NOVA_CPU_CONF"
    NOVA_CONF=$NOVA_CPU_CONF configure_livemigrate
elif [[ "$1" == "stack" && "$2" == "extra" ]]; then
    start_livemigrate
fi
