#!/usr/bin/env bash
# CLI attach/detach latency: `underlay network connect` and `disconnect` of one namespace, N
# times in a row, in a throwaway lab (a host namespace whose eth0 is a veth). Prints median,
# p90 and max in milliseconds, process start included. Needs root; touches nothing outside
# the lab.   usage: bash bench/cli_attach.sh [N]
set -euo pipefail
N=${1:-200}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
(cd "$ROOT" && cargo build --release --quiet -p underlay)
BIN=$ROOT/target/release/underlay
P=ulbench-$$
STATE=$(mktemp -d)
cleanup() { ip netns del "$P-h" 2>/dev/null || true; ip netns del "$P-c" 2>/dev/null || true; rm -rf "$STATE"; }
trap cleanup EXIT
ip netns add "$P-h"; ip netns add "$P-c"
ip -n "$P-h" link add eth0 type veth peer name lan0
ip -n "$P-h" link set eth0 up
ul() { UNDERLAY_STATE_DIR=$STATE nsenter --net="/run/netns/$P-h" "$BIN" "$@"; }
ul network create --subnet 172.16.86.0/24 --gateway 172.16.86.1 -o parent=eth0 bench >/dev/null
con=(); dis=()
for _ in $(seq "$N"); do
  t0=$(date +%s%N); ul network connect bench "$P-c"
  t1=$(date +%s%N); ul network disconnect bench "$P-c"
  t2=$(date +%s%N)
  con+=($(( (t1 - t0) / 1000 ))); dis+=($(( (t2 - t1) / 1000 )))
done
stats() { sort -n | awk '{a[NR]=$1} END {printf "median %.2f ms, p90 %.2f ms, max %.2f ms", a[int(NR*0.5)+1]/1000, a[int(NR*0.9)]/1000, a[NR]/1000}'; }
echo "connect    (n=$N): $(printf '%s\n' "${con[@]}" | stats)"
echo "disconnect (n=$N): $(printf '%s\n' "${dis[@]}" | stats)"
t0=$(date +%s%N); for _ in $(seq 50); do UNDERLAY_STATE_DIR=$STATE nsenter --net="/run/netns/$P-h" true; done; t1=$(date +%s%N)
echo "nsenter alone: $(( (t1 - t0) / 50000 )) us per call (included above)"
