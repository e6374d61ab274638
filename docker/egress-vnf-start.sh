#!/bin/sh
# Starts egress-vnf in a Kubernetes pod (docker/k8s/vnf/deployment.yaml).
#
# - Waits for the TOML that the egress-sidecar container renders from the CRs.
# - Builds the EAL allow-list (-a PCI) from the SR-IOV device plugin's variables: every name in
#   EGRESS_PCI_RESOURCES (space-separated, e.g. "PCIDEVICE_INTEL_COM_SRIOV_EGRESS_INTERNAL
#   PCIDEVICE_INTEL_COM_SRIOV_EGRESS_EXTERNAL") is a variable holding one or more PCI addresses
#   separated by commas. DPDK probes PCI devices in address order, so the ports are named 1.1,
#   1.2, ... in ascending PCI address order, whatever the order of the -a arguments; the script
#   prints the resulting names so that they can be checked against F5SPKVlan spec.interfaces.
# - Arguments given to the script are passed to egress-vnf before the EAL arguments.
#
# Environment: EGRESS_CONFIG (default /run/egress-vnf/egress.toml), EGRESS_PCI_RESOURCES,
# EGRESS_EAL_EXTRA (more EAL arguments, space-separated), EGRESS_CONFIG_WAIT_SECONDS (default 120).
set -eu

config=${EGRESS_CONFIG:-/run/egress-vnf/egress.toml}
wait_s=${EGRESS_CONFIG_WAIT_SECONDS:-120}

i=0
while [ ! -s "$config" ]; do
    if [ "$i" -ge $((wait_s * 2)) ]; then
        echo "egress-vnf-start: $config not written after ${wait_s} s (is egress-sidecar running? see its log)" >&2
        exit 1
    fi
    i=$((i + 1))
    sleep 0.5
done

pcis=""
for var in ${EGRESS_PCI_RESOURCES:-}; do
    case "$var" in
        *[!A-Za-z0-9_]*) echo "egress-vnf-start: EGRESS_PCI_RESOURCES: \`$var\` is not a variable name" >&2; exit 2 ;;
    esac
    eval "val=\${$var:-}"
    if [ -z "$val" ]; then
        echo "egress-vnf-start: $var is not set (is the SR-IOV resource requested in the container's resources?)" >&2
        exit 2
    fi
    for pci in $(echo "$val" | tr ',' ' '); do
        pcis="$pcis $pci"
    done
done

eal=""
n=0
for pci in $(for p in $pcis; do echo "$p"; done | sort -u); do
    n=$((n + 1))
    echo "egress-vnf-start: port 1.$n = $pci"
    eal="$eal -a $pci"
done
if [ "$n" -eq 0 ]; then
    # Never let EAL take every PCI device of the node: without an allow-list, no PCI at all.
    echo "egress-vnf-start: no SR-IOV PCI device in EGRESS_PCI_RESOURCES: starting with --no-pci"
    eal="--no-pci"
fi

# shellcheck disable=SC2086 # word splitting of the EAL argument lists is intended
exec egress-vnf --config "$config" "$@" -- $eal ${EGRESS_EAL_EXTRA:-}
