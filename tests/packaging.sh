#!/usr/bin/env bash
# The packaging is sound: packaging/install.sh installs the binary, units and README into a
# directory; systemd-analyze verifies the units it wrote; the managed plugin's config.json
# declares what Docker needs. (The daemon under socket activation and the managed plugin run
# against a real Docker engine in tests/docker_plugin.sh.)
#
#   bash tests/packaging.sh [path/to/underlay]     # default: target/debug/underlay
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
command -v systemd-analyze >/dev/null || {
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends systemd >/dev/null; }
D=$(mktemp -d /tmp/ul-pkg.XXXX)
trap 'rm -rf "$D"' EXIT
BIN=$(realpath "${1:-$ROOT/target/debug/underlay}")
bash "$ROOT/packaging/install.sh" --destdir "$D/root" --no-enable --binary "$BIN" >/dev/null
for f in usr/local/bin/underlay usr/local/share/doc/underlay/README.md \
  etc/systemd/system/underlay.socket etc/systemd/system/underlay.service \
  etc/systemd/system/underlay-restore.service; do
  [ -e "$D/root/$f" ] || { echo "packaging: $f not installed"; exit 1; }
done
"$D/root/usr/local/bin/underlay" --version >/dev/null
# systemd checks that ExecStart names an executable: point the units at the installed one.
mkdir "$D/units"
for u in "$D"/root/etc/systemd/system/*; do
  sed "s#/usr/local/bin/underlay#$D/root/usr/local/bin/underlay#" "$u" > "$D/units/$(basename "$u")"
done
(cd "$D/units" && systemd-analyze verify underlay.socket underlay.service underlay-restore.service)
grep -q '^ExecStart=/usr/local/bin/underlay daemon$' "$D/root/etc/systemd/system/underlay.service"
jq -e '.interface.socket == "underlay.sock"
  and (.interface.types | index("docker.networkdriver/1.0") and index("docker.ipamdriver/1.0"))
  and .network.type == "host"
  and (.linux.capabilities | index("CAP_NET_ADMIN"))
  and (.env[] | select(.name == "UNDERLAY_MANAGED_PLUGIN") | .value == "macvlan")' \
  "$ROOT/packaging/docker-plugin/config.json" >/dev/null
echo "packaging: install, units and plugin config ok"
