#!/bin/bash
# A wrong devstack plugin the harness must fail: the real configure body
# aimed at $NOVA_CONF, but at post-config, while configure_neutron_nova
# rewrites $NOVA_CONF concurrently.
# shellcheck source=devstack/lib/osc-livemigrate
source "$LIVEMIGRATE_DIR/devstack/lib/osc-livemigrate"
if [[ "$1" == "stack" && "$2" == "install" ]]; then
    install_livemigrate
elif [[ "$1" == "stack" && "$2" == "post-config" ]]; then
    configure_livemigrate
elif [[ "$1" == "stack" && "$2" == "extra" ]]; then
    start_livemigrate
fi
