#!/usr/bin/env bash
# Attach at scale, in a throwaway lab: N (default 1000) sequential `underlay network connect`s
# of N namespaces to one network (does the 1000th cost what the first did?), then 50 CNI ADDs
# at once into 50 more namespaces (wall time, and each call's own time), and underlay's
# start-up (CNI VERSION, `network ls` of an empty store) beside /bin/true. Needs root.
#
#   bash bench/scale_attach.sh [N]      (BENCH_OUT=DIR also writes the raw samples)
set -euo pipefail
N=${1:-1000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# The binary as shipped (scripts/build-static.sh): static, release.
BIN=$(bash "$ROOT/scripts/build-static.sh")
P=ulscale-$$
WORK=$(mktemp -d)
OUT=${BENCH_OUT:-$WORK}
cleanup() {
  for ns in $(ip netns list | awk '{print $1}' | grep "^$P-" || true); do ip netns del "$ns"; done
  rm -rf "$WORK"
}
trap cleanup EXIT
ip netns add "$P-h"
ip -n "$P-h" link add eth0 type veth peer name lan0
ip -n "$P-h" link set eth0 up; ip -n "$P-h" link set lan0 up
for i in $(seq "$N"); do ip netns add "$P-c$i"; done
for i in $(seq 50); do ip netns add "$P-p$i"; done
cat > "$WORK/seq.sh" <<EOF
export UNDERLAY_STATE_DIR=$WORK/ul
$BIN network create --subnet 10.128.0.0/16 -o parent=eth0 bench >/dev/null
for i in \$(seq $N); do
  t0=\$EPOCHREALTIME; $BIN network connect bench $P-c\$i; t1=\$EPOCHREALTIME
  echo \$(( \${t1/./} - \${t0/./} ))
done
EOF
nsenter --net="/run/netns/$P-h" bash "$WORK/seq.sh" > "$OUT/seq-attach.txt"
first=$(head -100 "$OUT/seq-attach.txt" | sort -n | awk '{a[NR]=$1} END {printf "%.2f %.2f", a[51]/1000, a[99]/1000}')
last=$(tail -100 "$OUT/seq-attach.txt" | sort -n | awk '{a[NR]=$1} END {printf "%.2f %.2f", a[51]/1000, a[99]/1000}')
echo "sequential attaches: first 100 p50/p99 ${first/ / \/ } ms, last 100 p50/p99 ${last/ / \/ } ms"

echo "{\"cniVersion\":\"1.0.0\",\"name\":\"par\",\"type\":\"underlay\",\"master\":\"eth0\",\"stateDir\":\"$WORK/ul\",\"ipam\":{\"type\":\"underlay\",\"ranges\":[[{\"subnet\":\"10.129.0.0/24\"}]]}}" > "$WORK/par.json"
cat > "$WORK/par.sh" <<EOF
one() {
  t0=\$EPOCHREALTIME
  CNI_COMMAND=ADD CNI_CONTAINERID=par\$1 CNI_NETNS=/run/netns/$P-p\$1 CNI_IFNAME=eth0 $BIN < $WORK/par.json > $WORK/par-\$1.json || echo "FAILED \$1" >&2
  t1=\$EPOCHREALTIME
  echo \$(( \${t1/./} - \${t0/./} ))
}
w0=\$EPOCHREALTIME
for i in \$(seq 50); do one \$i > $WORK/par-\$i.t & done
wait
w1=\$EPOCHREALTIME
echo \$(( \${w1/./} - \${w0/./} )) > $WORK/par-wall
cat $WORK/par-*.t
EOF
nsenter --net="/run/netns/$P-h" bash "$WORK/par.sh" > "$OUT/par-add.txt"
cp "$WORK/par-wall" "$OUT/par-wall.txt"
distinct=$(cat "$WORK"/par-*.json | grep -o '"address": "[^"]*"' | sort -u | wc -l)
echo "50 parallel CNI ADDs: wall $(awk '{printf "%.1f", $1/1000}' "$OUT/par-wall.txt") ms, $distinct distinct addresses, median call $(sort -n "$OUT/par-add.txt" | awk '{a[NR]=$1} END {printf "%.2f", a[26]/1000}') ms"
echo "$distinct" > "$OUT/par-distinct.txt"

# Start-up: the cheapest paths through the binary, beside an empty process.
for what in true version ls; do
  for _ in $(seq 100); do
    t0=$EPOCHREALTIME
    case $what in
      true) /bin/true ;;
      version) CNI_COMMAND=VERSION "$BIN" < /dev/null > /dev/null ;;
      ls) UNDERLAY_STATE_DIR=$WORK/empty "$BIN" network ls > /dev/null ;;
    esac
    t1=$EPOCHREALTIME
    echo $(( ${t1/./} - ${t0/./} ))
  done > "$OUT/startup-$what.txt"
done
for what in true version ls; do
  echo "start-up $what: median $(sort -n "$OUT/startup-$what.txt" | awk '{a[NR]=$1} END {printf "%.2f", a[51]/1000}') ms"
done

# Last (tearing down its thousand namespaces keeps the kernel busy for a while): the kernel's
# own part of the sequential attaches above: the netlink floor with every link kept (N
# macvlans on one parent, each in a namespace of its own), in one process.
(cd "$ROOT" && cargo build --release --quiet -p underlay-netlink --example floor)
"$ROOT/target/release/examples/floor" "$N" keep > "$OUT/seq-floor.txt"
kfirst=$(head -100 "$OUT/seq-floor.txt" | sort -n | awk '{a[NR]=$1} END {printf "%.2f %.2f", a[51]/1000, a[99]/1000}')
klast=$(tail -100 "$OUT/seq-floor.txt" | sort -n | awk '{a[NR]=$1} END {printf "%.2f %.2f", a[51]/1000, a[99]/1000}')
echo "the kernel alone (floor, links kept): first 100 p50/p99 ${kfirst/ / \/ } ms, last 100 p50/p99 ${klast/ / \/ } ms"
