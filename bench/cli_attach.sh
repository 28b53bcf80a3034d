#!/usr/bin/env bash
# CLI attach/detach latency: `underlay network connect` and `disconnect` of one namespace, N
# times in a row, in a throwaway lab (a host namespace whose eth0 is a veth). The loop runs
# inside the lab's host namespace and reads the clock with bash's $EPOCHREALTIME, so a figure
# is the underlay process alone (start-up included). Needs root; touches nothing outside the
# lab.   usage: bash bench/cli_attach.sh [N]     (BENCH_OUT=DIR also writes the raw samples)
set -euo pipefail
N=${1:-200}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# The binary as shipped (scripts/build-static.sh): static, release.
BIN=$(bash "$ROOT/scripts/build-static.sh")
P=ulbench-$$
STATE=$(mktemp -d)
cleanup() { ip netns del "$P-h" 2>/dev/null || true; ip netns del "$P-c" 2>/dev/null || true; rm -rf "$STATE"; }
trap cleanup EXIT
ip netns add "$P-h"; ip netns add "$P-c"
ip -n "$P-h" link add eth0 type veth peer name lan0
ip -n "$P-h" link set eth0 up; ip -n "$P-h" link set lan0 up
cat > "$STATE/loop.sh" <<EOF
export UNDERLAY_STATE_DIR=$STATE/ul
$BIN network create --subnet 172.16.86.0/24 --gateway 172.16.86.1 -o parent=eth0 bench >/dev/null
for _ in \$(seq $N); do
  t0=\$EPOCHREALTIME; $BIN network connect bench $P-c; t1=\$EPOCHREALTIME
  sleep 0.04
  t2=\$EPOCHREALTIME; $BIN network disconnect bench $P-c; t3=\$EPOCHREALTIME
  sleep 0.04
  echo \$(( \${t1/./} - \${t0/./} )) \$(( \${t3/./} - \${t2/./} ))
done
EOF
nsenter --net="/run/netns/$P-h" bash "$STATE/loop.sh" > "$STATE/times"
stats() { sort -n | awk '{a[NR]=$1} END {printf "median %.2f ms, p90 %.2f ms, max %.2f ms", a[int(NR*0.5)+1]/1000, a[int(NR*0.9)]/1000, a[NR]/1000}'; }
echo "connect    (n=$N): $(awk '{print $1}' "$STATE/times" | stats)"
echo "disconnect (n=$N): $(awk '{print $2}' "$STATE/times" | stats)"
# Raw samples (microseconds) for bench/run.sh's report.
if [ -n "${BENCH_OUT:-}" ]; then
  awk '{print $1}' "$STATE/times" > "$BENCH_OUT/cli-connect.txt"
  awk '{print $2}' "$STATE/times" > "$BENCH_OUT/cli-disconnect.txt"
fi
