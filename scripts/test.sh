#!/usr/bin/env bash
# Runs every test of underlay: unit and property tests, then end-to-end tests in namespace labs
# (needs root; each test builds its own namespaces and removes them, also on failure).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
if [[ $(id -u) != 0 ]]; then
  echo "test.sh: end-to-end tests need root (network namespaces); run it with sudo" >&2
  exit 1
fi
cargo build --workspace --all-targets --quiet
# Tests that need root are #[ignore]d (a plain `cargo test` without root reports them as
# skipped); here they are asked for, and fail rather than skip if they cannot run.
cargo test --workspace --no-fail-fast -- --include-ignored 2>&1
# A real CNI runtime (Debian's Podman 4.3, CNI backend) runs containers on an underlay network.
bash tests/podman_cni.sh target/debug/underlay
# A real Docker engine (Debian's docker.io 20.10) uses underlay's daemon as network and IPAM
# driver: the macvlan guide, connect/disconnect, restarts, bad input, socket activation.
bash tests/docker_plugin.sh target/debug/underlay
# Docker's multi-host recipe on two dockerd instances sharing one etcd: unique addresses
# across the hosts through underlay's IPAM driver, with Docker's macvlan and underlay-macvlan.
bash tests/docker_cluster.sh target/debug/underlay
# dockerd stopped, a container removed while underlay's daemon was down, dockerd's data wiped:
# the daemon releases what Docker no longer has, and nothing while Docker cannot answer.
bash tests/docker_reconcile.sh target/debug/underlay
# Docker's own macvlan integration scenarios (moby 20.10) with the docker CLI against
# underlay-macvlan; those that need dummy or 802.1Q links are in vm/tests/docker_macvlan.sh.
bash tests/docker_macvlan.sh target/debug/underlay
# install.sh, the systemd units (systemd-analyze verify) and the managed plugin's config.
bash tests/packaging.sh target/debug/underlay
# The same product on a stock Debian kernel in QEMU: ipvlan, 802.1Q and dummy parents, which
# this machine's kernel may lack. UNDERLAY_SKIP_VM=1 skips it (e.g. for a quick local run).
if [[ ${UNDERLAY_SKIP_VM:-0} != 1 ]]; then
  bash vm/run.sh
fi
