#!/usr/bin/env bash
# Installs what underlay's build and tests need on a fresh Debian 12 machine (idempotent).
set -euo pipefail
missing=()
command -v ip >/dev/null || missing+=(iproute2)
command -v ping >/dev/null || missing+=(iputils-ping)
command -v nsenter >/dev/null || missing+=(util-linux)
command -v cc >/dev/null || missing+=(gcc libc6-dev)
# The CNI reference plugins (macvlan, ipvlan, host-local): the CNI tests compare with them.
[ -x /usr/lib/cni/macvlan ] || missing+=(containernetworking-plugins)
# The cluster store: etcd-client's build compiles etcd's protocol with protoc; the cluster
# store's tests start Debian's etcd 3.4 on loopback.
command -v protoc >/dev/null || missing+=(protobuf-compiler)
[ -f /usr/include/google/protobuf/descriptor.proto ] || missing+=(libprotobuf-dev)
command -v etcd >/dev/null || missing+=(etcd-server)
# etcdctl: the tests read etcd's keys and members with it.
command -v etcdctl >/dev/null || missing+=(etcd-client)
# The static (musl) build compiles ring, the TLS client's cryptography, with musl's gcc.
command -v x86_64-linux-musl-gcc >/dev/null || missing+=(musl-tools)
if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "deps: cargo not found: install Rust (rustup) first" >&2; exit 1; }
