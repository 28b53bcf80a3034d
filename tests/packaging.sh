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
  etc/systemd/system/underlay-restore.service \
  usr/local/share/bash-completion/completions/underlay usr/local/share/zsh/site-functions/_underlay \
  usr/local/share/fish/vendor_completions.d/underlay.fish usr/local/share/man/man1/underlay.1 \
  usr/local/share/man/man1/underlay-network-create.1; do
  [ -e "$D/root/$f" ] || { echo "packaging: $f not installed"; exit 1; }
done
"$D/root/usr/local/bin/underlay" --version >/dev/null
# The completions complete: bash offers the network commands and their flags.
SHARE=$D/root/usr/local/share
got=$(bash -c "source $SHARE/bash-completion/completions/underlay
  COMP_WORDS=(underlay network ''); COMP_CWORD=2; _underlay underlay '' network; echo \"\${COMPREPLY[*]}\"")
for w in create connect ls inspect rm prune restore; do
  [[ " $got " == *" $w "* ]] || { echo "packaging: bash completion lacks network $w: $got"; exit 1; }
done
got=$(bash -c "source $SHARE/bash-completion/completions/underlay
  COMP_WORDS=(underlay network ls --); COMP_CWORD=3; _underlay underlay -- ls; echo \"\${COMPREPLY[*]}\"")
[[ " $got " == *" --filter "* && " $got " == *" --format "* ]] || { echo "packaging: bash completion lacks ls flags: $got"; exit 1; }
grep -q 'network' "$SHARE/zsh/site-functions/_underlay"
grep -q "complete -c underlay" "$SHARE/fish/vendor_completions.d/underlay.fish"
grep -q '^\.TH underlay-network-create 1' "$SHARE/man/man1/underlay-network-create.1"
grep -q -- 'ipam\\-driver' "$SHARE/man/man1/underlay-network-create.1"
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
