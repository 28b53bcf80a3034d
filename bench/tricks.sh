#!/usr/bin/env bash
# What each performance trick wins: the shipped binary side by side with builds that each lack
# one trick (a `--cfg underlay_bench_*` switch, see each trick's module), timed the way users
# and runtimes see them: a CLI connect and disconnect, a CNI ADD and DEL (configuration on
# stdin), one process per call from its start to its exit. All variants take turns within each
# round, each on its own parent and state directory in one lab, so the machine's noise falls
# on all alike. Prints medians and each variant's cost against the shipped binary; with
# BENCH_OUT=DIR also writes DIR/tricks.txt for bench/report.py.
#
#   bash bench/tricks.sh [N]      # N rounds (default 100); needs root
set -euo pipefail
N=${1:-100}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
musl=x86_64-unknown-linux-musl
# name and --cfg of each variant; "shipped" is the binary as scripts/build-static.sh makes it.
variants=(shipped no-arena fresh-thread no-in-place inline-del)
declare -A cfg=([no-arena]=underlay_bench_no_arena [fresh-thread]=underlay_bench_fresh_thread
  [no-in-place]=underlay_bench_no_in_place [inline-del]=underlay_bench_inline_del)
declare -A bin
bin[shipped]=$(bash scripts/build-static.sh)
for v in "${variants[@]:1}"; do
  if rustup target list --installed 2>/dev/null | grep -qx $musl; then
    CARGO_TARGET_DIR=$ROOT/target/tricks/$v \
      CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_RUSTFLAGS="-C relocation-model=static --cfg ${cfg[$v]}" \
      cargo build --release --quiet --target $musl -p underlay
    bin[$v]=$ROOT/target/tricks/$v/$musl/release/underlay
  else
    CARGO_TARGET_DIR=$ROOT/target/tricks/$v \
      RUSTFLAGS="-C target-feature=+crt-static --cfg ${cfg[$v]}" \
      cargo build --release --quiet --target x86_64-unknown-linux-gnu -p underlay
    bin[$v]=$ROOT/target/tricks/$v/x86_64-unknown-linux-gnu/release/underlay
  fi
done
P=ultrick-$$
WORK=$(mktemp -d)
cleanup() {
  ip netns del "$P-h" 2>/dev/null || true
  for i in "${!variants[@]}"; do ip netns del "$P-c$i" 2>/dev/null || true; ip netns del "$P-k$i" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
ip netns add "$P-h"
for i in "${!variants[@]}"; do
  ip netns add "$P-c$i"; ip netns add "$P-k$i"
  ip -n "$P-h" link add "up$i" type veth peer name "lan$i"
  ip -n "$P-h" link set "up$i" up; ip -n "$P-h" link set "lan$i" up
  echo "{\"cniVersion\":\"1.0.0\",\"name\":\"bench\",\"type\":\"underlay\",\"master\":\"up$i\",\"stateDir\":\"$WORK/cni$i\",\"ipam\":{\"type\":\"underlay\",\"ranges\":[[{\"subnet\":\"172.16.$((90 + i)).0/24\",\"gateway\":\"172.16.$((90 + i)).1\"}]],\"routes\":[{\"dst\":\"0.0.0.0/0\"}]}}" > "$WORK/cni$i.json"
done
{
  echo "set -e"
  for i in "${!variants[@]}"; do
    echo "UNDERLAY_STATE_DIR=$WORK/cli$i ${bin[${variants[$i]}]} network create --subnet 172.16.$((80 + i)).0/24 --gateway 172.16.$((80 + i)).1 -o parent=up$i bench >/dev/null"
  done
  echo "for _ in \$(seq $N); do"
  for i in "${!variants[@]}"; do
    b=${bin[${variants[$i]}]}
    cat <<EOF
  export UNDERLAY_STATE_DIR=$WORK/cli$i
  t0=\$EPOCHREALTIME; $b network connect bench $P-c$i; t1=\$EPOCHREALTIME; sleep 0.04
  t2=\$EPOCHREALTIME; $b network disconnect bench $P-c$i; t3=\$EPOCHREALTIME; sleep 0.04
  export CNI_CONTAINERID=bench CNI_NETNS=/run/netns/$P-k$i CNI_IFNAME=eth0 CNI_PATH=/usr/lib/cni
  t4=\$EPOCHREALTIME; CNI_COMMAND=ADD $b < $WORK/cni$i.json >/dev/null; t5=\$EPOCHREALTIME; sleep 0.04
  t6=\$EPOCHREALTIME; CNI_COMMAND=DEL $b < $WORK/cni$i.json >/dev/null; t7=\$EPOCHREALTIME; sleep 0.04
  echo ${variants[$i]} \$(( \${t1/./} - \${t0/./} )) \$(( \${t3/./} - \${t2/./} )) \$(( \${t5/./} - \${t4/./} )) \$(( \${t7/./} - \${t6/./} ))
EOF
  done
  echo "done"
} > "$WORK/loop.sh"
nsenter --net="/run/netns/$P-h" bash "$WORK/loop.sh" > "$WORK/times"
median() { sort -n | awk '{a[NR]=$1} END {print a[int(NR*0.5)+1]}'; }
declare -A med
ops=(connect disconnect add del)
for v in "${variants[@]}"; do
  for k in 0 1 2 3; do
    med[$v,$k]=$(awk -v v="$v" -v c=$((k + 2)) '$1 == v {print $c}' "$WORK/times" | median)
  done
done
out=${BENCH_OUT:+$BENCH_OUT/tricks.txt}
: > "${out:-/dev/null}"
printf '%-13s %12s %12s %12s %12s\n' variant "CLI connect" "disconnect" "CNI ADD" "CNI DEL"
for v in "${variants[@]}"; do
  line=$v
  printf '%-13s' "$v"
  for k in 0 1 2 3; do
    m=${med[$v,$k]} s=${med[shipped,$k]}
    awk -v m="$m" -v s="$s" 'BEGIN {printf " %7.2f ms %+4.0f%%", m / 1000, (m - s) * 100 / s}'
    line="$line ${ops[$k]}=$m"
  done
  printf '\n'
  [ -n "${out:-}" ] && echo "$line n=$N" >> "$out"
done
