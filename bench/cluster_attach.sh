#!/usr/bin/env bash
# The cluster store's cost (Debian's etcd 3.4 on loopback inside a throwaway lab):
#  1. CLI connect/disconnect of one namespace on a global network against the same on a local
#     one, taking turns, N rounds; and the etcd requests each global pair makes (from etcd's
#     own request counters);
#  2. 4 nodes (state directories and node names of their own) x 25 parallel connects on one
#     global network: wall time, each call's p50/p99, and etcd transactions beyond one per
#     attach (a candidate another node took first);
#  3. one attach to a global /24 and a /16 whose pool is 90% claimed by another node, from a
#     node that has never seen the claims (it learns them) and then again (it knows them).
# Needs root; touches nothing outside the lab.   usage: bash bench/cluster_attach.sh [N]
# (BENCH_OUT=DIR also writes the raw samples and DIR/cluster.txt for bench/report.py)
set -euo pipefail
N=${1:-100}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$(bash "$ROOT/scripts/build-static.sh")
P=ulclus-$$
W=$(mktemp -d)
PORT=23870
ETCD_PID=
cleanup() {
  [ -n "$ETCD_PID" ] && kill "$ETCD_PID" 2>/dev/null && wait "$ETCD_PID" 2>/dev/null || true
  for ns in $(ip netns list | awk '{print $1}' | grep "^$P-" || true); do ip netns del "$ns"; done
  rm -rf "$W"
}
trap cleanup EXIT
ip netns add "$P-h"
ip -n "$P-h" link set lo up
for i in 0 1; do
  ip -n "$P-h" link add "eth$i" type veth peer name "lan$i"
  ip -n "$P-h" link set "eth$i" up; ip -n "$P-h" link set "lan$i" up
done
in_h() { nsenter --net="/run/netns/$P-h" "$@"; }
in_h etcd --name b --data-dir "$W/etcd" --listen-client-urls "http://127.0.0.1:$PORT" \
  --advertise-client-urls "http://127.0.0.1:$PORT" --listen-peer-urls "http://127.0.0.1:$((PORT + 1))" \
  --initial-advertise-peer-urls "http://127.0.0.1:$((PORT + 1))" \
  --initial-cluster "b=http://127.0.0.1:$((PORT + 1))" > "$W/etcd.log" 2>&1 &
ETCD_PID=$!
for _ in $(seq 100); do
  in_h env ETCDCTL_API=3 etcdctl --endpoints "127.0.0.1:$PORT" endpoint health >/dev/null 2>&1 && break
  sleep 0.1
done
export UNDERLAY_CLUSTER_STORE=etcd://127.0.0.1:$PORT
# etcd's own time: its write-ahead log's fsyncs (count and seconds).
fsyncs() {
  in_h python3 -c "
import urllib.request, re
t = urllib.request.urlopen('http://127.0.0.1:$PORT/metrics').read().decode()
get = lambda n: float(re.search(r'^' + n + r' (\S+)', t, re.M).group(1))
print(int(get('etcd_disk_wal_fsync_duration_seconds_count')), get('etcd_disk_wal_fsync_duration_seconds_sum'))"
}
# etcd's count of the requests it answered, by method (Txn, Range).
requests() {
  in_h python3 -c "
import urllib.request, re, sys
t = urllib.request.urlopen('http://127.0.0.1:$PORT/metrics').read().decode()
n = {}
for m in re.finditer(r'grpc_server_handled_total\{[^}]*grpc_method=\"(\w+)\"[^}]*\} (\S+)', t):
    n[m.group(1)] = n.get(m.group(1), 0) + float(m.group(2))
print(int(n.get('Txn', 0)), int(n.get('Range', 0)))"
}
ul() { in_h env UNDERLAY_STATE_DIR="$W/n${NODE:-0}" UNDERLAY_NODE="n${NODE:-0}" "$BIN" "$@"; }

# 1. Global against local, taking turns.
ul network create --subnet 172.16.86.0/24 --gateway 172.16.86.1 -o parent=eth0 here >/dev/null
ul network create --scope global --subnet 172.16.87.0/24 --gateway 172.16.87.1 -o parent=eth1 lan >/dev/null
ip netns add "$P-c"
ul network connect lan "$P-c"; ul network disconnect lan "$P-c"
read -r tx0 rg0 < <(requests)
read -r fc0 fs0 < <(fsyncs)
cat > "$W/loop.sh" <<EOF
export UNDERLAY_STATE_DIR=$W/n0 UNDERLAY_NODE=n0
for _ in \$(seq $N); do
  for net in here lan; do
    t0=\$EPOCHREALTIME; $BIN network connect \$net $P-c; t1=\$EPOCHREALTIME; sleep 0.04
    t2=\$EPOCHREALTIME; $BIN network disconnect \$net $P-c; t3=\$EPOCHREALTIME; sleep 0.04
    echo \$net \$(( \${t1/./} - \${t0/./} )) \$(( \${t3/./} - \${t2/./} ))
  done
done
EOF
in_h bash "$W/loop.sh" > "$W/times"
read -r tx1 rg1 < <(requests)
read -r fc1 fs1 < <(fsyncs)
fsync=$(awk -v c=$((fc1 - fc0)) -v s0="$fs0" -v s1="$fs1" 'BEGIN {printf "%.2f", c ? (s1 - s0) * 1000 / c : 0}')
median() { sort -n | awk '{a[NR]=$1} END {print a[int(NR*0.5)+1]}'; }
lc=$(awk '$1 == "here" {print $2}' "$W/times" | median); gc=$(awk '$1 == "lan" {print $2}' "$W/times" | median)
ld=$(awk '$1 == "here" {print $3}' "$W/times" | median); gd=$(awk '$1 == "lan" {print $3}' "$W/times" | median)
per=$(awk -v t=$((tx1 - tx0)) -v r=$((rg1 - rg0)) -v n="$N" 'BEGIN {printf "%.2f Txn + %.2f Range", t / n, r / n}')
echo "connect: local $(awk -v x="$lc" 'BEGIN {printf "%.2f", x / 1000}') ms, global $(awk -v x="$gc" 'BEGIN {printf "%.2f", x / 1000}') ms; disconnect: local $(awk -v x="$ld" 'BEGIN {printf "%.2f", x / 1000}') ms, global $(awk -v x="$gd" 'BEGIN {printf "%.2f", x / 1000}') ms"
echo "etcd requests per global connect+disconnect: $per; etcd's log fsync: $fsync ms on average ($((fc1 - fc0)) of them)"

# 2. Four nodes, 25 parallel connects each.
for i in $(seq 100); do ip netns add "$P-p$i"; done
read -r tx2 _ < <(requests)
cat > "$W/par.sh" <<EOF
one() {
  t0=\$EPOCHREALTIME
  UNDERLAY_STATE_DIR=$W/n\$1 UNDERLAY_NODE=n\$1 $BIN network connect lan $P-p\$2 || echo fail >&2
  t1=\$EPOCHREALTIME; echo \$(( \${t1/./} - \${t0/./} ))
}
s=\$EPOCHREALTIME
for i in \$(seq 100); do one \$(( (i - 1) / 25 + 1 )) \$i & done
wait
e=\$EPOCHREALTIME; echo wall \$(( \${e/./} - \${s/./} ))
EOF
in_h bash "$W/par.sh" > "$W/par" 2> "$W/par.err"
read -r tx3 _ < <(requests)
fails=$(grep -c fail "$W/par.err" || true)
wall=$(awk '$1 == "wall" {print $2}' "$W/par")
grep -v wall "$W/par" | sort -n > "$W/par-calls"
p50=$(awk '{a[NR]=$1} END {print a[int(NR*0.5)+1]}' "$W/par-calls"); p99=$(awk '{a[NR]=$1} END {print a[int(NR*0.99)]}' "$W/par-calls")
# One claim per attach; what is beyond it is a retry (a registration is one per new node).
retries=$((tx3 - tx2 - 100 - 4))
distinct=$(NODE=1 ul network inspect lan | python3 -c "import json, sys; print(len({c['IPv4Address'] for c in json.load(sys.stdin)[0]['Containers'].values()}))")
echo "4 nodes x 25 parallel connects: wall $(awk -v x="$wall" 'BEGIN {printf "%.1f", x / 1000}') ms ($(awk -v x="$wall" 'BEGIN {printf "%.0f", 100 / (x / 1e6)}') attaches/s), each p50 $(awk -v x="$p50" 'BEGIN {printf "%.1f", x / 1000}') ms p99 $(awk -v x="$p99" 'BEGIN {printf "%.1f", x / 1000}') ms, $retries retries, $fails failed, $distinct addresses"

# 3. A pool 90% claimed by another node, seen for the first time and then again.
fill() {  # network id, how many, address of the i-th (awk expression of i)
  in_h python3 - "$1" "$2" "$3" "$PORT" <<'PY'
import json, subprocess, sys
net, n, expr, port = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
holder = json.dumps({"node": "filler", "endpoint": "f" * 64, "container": "filler", "since": "2026-12-03T00:00:00Z"})
ops = []
for i in range(n):
    a = eval(expr)
    ops.append(f"put /underlay/claims/{net}/{a} '{holder}'")
for k in range(0, len(ops), 128):
    txn = "\n\n" + "\n".join(ops[k:k + 128]) + "\n\n"
    subprocess.run(["etcdctl", "--endpoints", f"127.0.0.1:{port}", "txn"], input=txn.encode(),
                   env={"ETCDCTL_API": "3", "PATH": "/usr/bin:/bin"}, check=True, stdout=subprocess.DEVNULL)
PY
}
for spec in "v24 10.77.0.0/24 229 f'10.77.0.{i + 1}'" "v16 10.78.0.0/16 58982 f'10.78.{(i + 1) // 256}.{(i + 1) % 256}'"; do
  read -r name subnet count expr <<< "$spec"
  id=$(NODE=1 ul network create --scope global --subnet "$subnet" -o parent=eth0 "$name")
  fill "$id" "$count" "$expr"
  ip netns add "$P-$name-a"; ip netns add "$P-$name-b"
  t0=$(date +%s%N); NODE=2 ul network connect "$name" "$P-$name-a"; t1=$(date +%s%N)
  NODE=2 ul network connect "$name" "$P-$name-b"; t2=$(date +%s%N)
  echo "$name at 90%: first attach $(( (t1 - t0) / 1000 )) us (learns $count claims), next $(( (t2 - t1) / 1000 )) us"
  echo "$name $(( (t1 - t0) / 1000 )) $(( (t2 - t1) / 1000 ))" >> "$W/full"
done

if [ -n "${BENCH_OUT:-}" ]; then
  awk '$1 == "here" {print $2}' "$W/times" > "$BENCH_OUT/cluster-local-connect.txt"
  awk '$1 == "lan" {print $2}' "$W/times" > "$BENCH_OUT/cluster-global-connect.txt"
  {
    echo "local_connect=$lc global_connect=$gc local_disconnect=$ld global_disconnect=$gd n=$N"
    echo "fsync_ms=$fsync fsyncs=$((fc1 - fc0))"
    echo "txn_per_pair=$(awk -v t=$((tx1 - tx0)) -v n="$N" 'BEGIN {printf "%.2f", t / n}') range_per_pair=$(awk -v r=$((rg1 - rg0)) -v n="$N" 'BEGIN {printf "%.2f", r / n}')"
    echo "par_wall=$wall par_p50=$p50 par_p99=$p99 par_retries=$retries par_fails=$fails par_distinct=$distinct"
    awk '{print "full_" $1 "_first=" $2 " full_" $1 "_next=" $3}' "$W/full"
  } > "$BENCH_OUT/cluster.txt"
fi
