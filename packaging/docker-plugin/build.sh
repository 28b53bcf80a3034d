#!/usr/bin/env bash
# Builds underlay as a Docker managed plugin: a rootfs holding a static `underlay` and the
# plugin's config.json, in the layout `docker plugin create` takes.
#
#   packaging/docker-plugin/build.sh OUT_DIR [NAME]
#
# With NAME (e.g. underlay/macvlan) it also runs `docker plugin create NAME OUT_DIR`. Then:
#
#   docker plugin set NAME state.source=/var/lib/underlay        # (the default)
#   docker plugin set NAME UNDERLAY_MANAGED_PLUGIN=ipvlan        # for an ipvlan driver
#   docker plugin enable NAME
#   docker network create -d NAME --subnet 172.16.86.0/24 --gateway 172.16.86.1 -o parent=eth0 pub_net
#   docker network create -d NAME --ipam-driver NAME ...         # its IPAM driver
#
# The plugin runs in the host's network namespace and keeps its state in the state mount,
# where `underlay network ls` on the host sees it.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=${1:?usage: build.sh OUT_DIR [NAME]}
NAME=${2:-}
BIN=$(bash "$ROOT/scripts/build-static.sh")
if ldd "$BIN" 2>&1 | grep -q "=>"; then
  echo "build.sh: $BIN is not static" >&2
  exit 1
fi
rm -rf "$OUT"
mkdir -p "$OUT"/rootfs/{usr/bin,etc,proc,sys,dev,tmp,run/docker/plugins,var/lib/underlay}
install -m 0755 "$BIN" "$OUT/rootfs/usr/bin/underlay"
echo "root:x:0:0:root:/:/usr/bin/underlay" > "$OUT/rootfs/etc/passwd"
echo "root:x:0:" > "$OUT/rootfs/etc/group"
cp "$HERE/config.json" "$OUT/config.json"
echo "build.sh: plugin in $OUT ($(du -sh "$OUT" | cut -f1))" >&2
if [ -n "$NAME" ]; then
  docker plugin create "$NAME" "$OUT"
fi
