#!/usr/bin/env bash
# CNI attach/detach side by side, in one run: underlay's ADD/DEL, the reference macvlan plugin
# with host-local (Debian's containernetworking-plugins) and netavark's setup/teardown
# (Podman's network stack), each on its own throwaway lab of namespaces, one process per call
# as a runtime makes them. The three take turns within each round so that the machine's noise
# falls on all alike. Prints medians, p90 and the ratios.
#
#   bash bench/cni_attach.sh [N]        # N rounds (default 100); needs root
set -euo pipefail
N=${1:-100}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
missing=()
[ -x /usr/lib/cni/macvlan ] || missing+=(containernetworking-plugins)
[ -x /usr/lib/podman/netavark ] || missing+=(netavark)
if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The binary as shipped (scripts/build-static.sh): static, release.
BIN=$(bash "$ROOT/scripts/build-static.sh")
P=ulcni-$$
WORK=$(mktemp -d)
cleanup() {
  for s in u r n; do
    ip netns del "$P-$s-h" 2>/dev/null || true
    ip netns del "$P-$s-c" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
for s in u r n; do
  ip netns add "$P-$s-h"; ip netns add "$P-$s-c"
  ip -n "$P-$s-h" link add uplink type veth peer name lan0
  ip -n "$P-$s-h" link set uplink up; ip -n "$P-$s-h" link set lan0 up
done
ranges='"ranges":[[{"subnet":"172.16.86.0/24","rangeStart":"172.16.86.10","gateway":"172.16.86.1"}]],"routes":[{"dst":"0.0.0.0/0"}]'
echo "{\"cniVersion\":\"1.0.0\",\"name\":\"bench\",\"type\":\"underlay\",\"master\":\"uplink\",\"stateDir\":\"$WORK/ul\",\"ipam\":{\"type\":\"underlay\",$ranges}}" > "$WORK/u.json"
echo "{\"cniVersion\":\"1.0.0\",\"name\":\"bench\",\"type\":\"macvlan\",\"master\":\"uplink\",\"ipam\":{\"type\":\"host-local\",\"dataDir\":\"$WORK/hl\",$ranges}}" > "$WORK/r.json"
cat > "$WORK/n.json" <<EOF
{"container_id": "bench", "container_name": "bench",
 "networks": {"bench": {"interface_name": "eth0", "static_ips": ["172.16.86.10"]}},
 "network_info": {"bench": {"name": "bench",
   "id": "2f259bab93aaaaa2542ba43ef33eb990d0999ee1b9924b557b7be53c0b7a1bb9",
   "driver": "macvlan", "network_interface": "uplink",
   "subnets": [{"subnet": "172.16.86.0/24", "gateway": "172.16.86.1"}],
   "ipv6_enabled": false, "internal": false, "dns_enabled": false,
   "options": {"mode": "bridge"}, "ipam_options": {"driver": "host-local"}}}}
EOF
# The timing loop runs inside each lab's host namespace (no nsenter per call) and reads the
# clock with bash's $EPOCHREALTIME (no fork), so a figure is the plugin process alone.
cat > "$WORK/one.sh" <<'EOF'
# one.sh KIND OP WORK CNS BIN: time one call, print microseconds
kind=$1 op=$2 work=$3 cns=$4 bin=$5
export CNI_CONTAINERID=bench CNI_NETNS=/run/netns/$cns CNI_IFNAME=eth0 CNI_PATH=/usr/lib/cni
t0=$EPOCHREALTIME
case $kind in
  u) CNI_COMMAND=$op "$bin" < "$work/u.json" >/dev/null ;;
  r) CNI_COMMAND=$op /usr/lib/cni/macvlan < "$work/r.json" >/dev/null ;;
  n) /usr/lib/podman/netavark -c "$work/nv" "$op" "$CNI_NETNS" < "$work/n.json" >/dev/null ;;
esac
rc=$?
t1=$EPOCHREALTIME
[ $rc = 0 ] || { echo "FAILED $kind $op" >&2; exit 1; }
echo $(( (${t1/./} - ${t0/./}) ))
EOF
one() { nsenter --net="/run/netns/$P-$1-h" bash "$WORK/one.sh" "$1" "$2" "$WORK" "$P-$1-c" "$BIN"; }
# Warm-up: caches, the network underlay makes on first ADD, netavark's config dir.
for s in u r; do one $s ADD >/dev/null; one $s DEL >/dev/null; done
one n setup >/dev/null; one n teardown >/dev/null
: > "$WORK/times"
# Every call is followed by 40 ms of quiet, the same for all: work a plugin leaves running
# (underlay's DEL hands the kernel's link deletion, about 20 ms, to a background process; the
# kernel defers some of its own) must not fall on the next measurement, whoever's it is.
quiet() { sleep 0.04; }
for _ in $(seq "$N"); do
  echo "u-add $(one u ADD)" >> "$WORK/times"; quiet; echo "u-del $(one u DEL)" >> "$WORK/times"; quiet
  echo "r-add $(one r ADD)" >> "$WORK/times"; quiet; echo "r-del $(one r DEL)" >> "$WORK/times"; quiet
  echo "n-add $(one n setup)" >> "$WORK/times"; quiet; echo "n-del $(one n teardown)" >> "$WORK/times"; quiet
done
# Raw samples (microseconds) for bench/run.sh's report.
if [ -n "${BENCH_OUT:-}" ]; then
  for k in u-add u-del r-add r-del n-add n-del; do awk -v k="$k" '$1==k {print $2}' "$WORK/times" > "$BENCH_OUT/cni-$k.txt"; done
fi
stat() { # KEY -> "median p90" in ms
  awk -v k="$1" '$1==k {print $2}' "$WORK/times" | sort -n |
    awk '{a[NR]=$1} END {printf "%.2f %.2f", a[int(NR*0.5)+1]/1000, a[int(NR*0.9)]/1000}'
}
read -r ua ua9 <<<"$(stat u-add)"; read -r ud ud9 <<<"$(stat u-del)"
read -r ra ra9 <<<"$(stat r-add)"; read -r rd rd9 <<<"$(stat r-del)"
read -r na na9 <<<"$(stat n-add)"; read -r nd nd9 <<<"$(stat n-del)"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
echo "| plugin | ADD median | ADD p90 | DEL median | DEL p90 |"
echo "|---|---|---|---|---|"
echo "| underlay | $ua ms | $ua9 ms | $ud ms | $ud9 ms |"
echo "| reference macvlan + host-local | $ra ms | $ra9 ms | $rd ms | $rd9 ms |"
echo "| netavark setup / teardown | $na ms | $na9 ms | $nd ms | $nd9 ms |"
echo
echo "underlay / reference: ADD $(ratio "$ua" "$ra"), DEL $(ratio "$ud" "$rd") (target: at most 0.20 each)"
echo "underlay / netavark:  ADD $(ratio "$ua" "$na"), DEL $(ratio "$ud" "$nd")"
echo "n=$N rounds, $(date -u +%Y-%m-%d), $(nproc) cores, kernel $(uname -r)"
