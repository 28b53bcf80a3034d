#!/usr/bin/env bash
# The benchmark suite in one command: installs the peers it compares with, runs the micro
# benchmarks (cargo bench) and every macro benchmark side by side with its peers, prints the
# tables and writes BENCHMARKS.md and bench/latency.svg. Needs root (namespace labs); touches
# nothing outside its own namespaces and temporary directories.
#
#   bash bench/run.sh           # about 15 minutes on 2 cores (the first run builds more)
#   QUICK=1 bash bench/run.sh   # fewer rounds, for a smoke run
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
bash scripts/deps.sh
missing=()
[ -x /usr/lib/cni/macvlan ] || missing+=(containernetworking-plugins)
[ -x /usr/lib/podman/netavark ] || missing+=(netavark)
command -v python3 >/dev/null || missing+=(python3)
if ((${#missing[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [[ ${QUICK:-0} == 1 ]]; then N=20; SEQ=200; CRIT=(--warm-up-time 0.2 --measurement-time 0.5); else N=100; SEQ=1000; CRIT=(--warm-up-time 1 --measurement-time 3); fi
OUT=$ROOT/target/bench
rm -rf "$OUT" target/criterion; mkdir -p "$OUT"
bash scripts/build-static.sh >/dev/null
cargo build --release --quiet -p underlay-netlink --example floor
# The kernel tears the previous labs' namespaces down in the background; let it finish first.
settle() { sleep 3; }
echo "== micro: IPAM and store (cargo bench)"
cargo bench --quiet -p ipam --bench alloc -- "${CRIT[@]}" 2>&1 | grep -E '^(ipam|store)/|time:' || true
cargo bench --quiet -p underlay-store --bench txn -- "${CRIT[@]}" 2>&1 | grep -E '^(ipam|store)/|time:' || true
echo "== CLI connect/disconnect"
BENCH_OUT=$OUT bash bench/cli_attach.sh "$N"
echo "== CNI: underlay, reference macvlan + host-local, netavark"
settle
BENCH_OUT=$OUT bash bench/cni_attach.sh "$N" | tail -4
echo "== netlink floor"
settle
target/release/examples/floor "$N" > "$OUT/floor.txt"
awk '{print $1}' "$OUT/floor.txt" > "$OUT/floor-attach.txt"; awk '{print $2}' "$OUT/floor.txt" > "$OUT/floor-detach.txt"
echo "== Docker plugin against Docker's built-in macvlan; daemon memory"
settle
BENCH_OUT=$OUT bash bench/docker_attach.sh "$((N / 2))" | tail -6
echo "== performance tricks: the shipped binary against builds without each"
settle
BENCH_OUT=$OUT bash bench/tricks.sh "$N" | tail -5
echo "== cluster store: global against local attaches, 4 nodes in parallel, 90% full pools"
settle
BENCH_OUT=$OUT bash bench/cluster_attach.sh "$N" | tail -5
echo "== scale: $SEQ sequential attaches, 50 parallel ADDs, start-up"
settle
BENCH_OUT=$OUT bash bench/scale_attach.sh "$SEQ"
cmd="bash bench/run.sh"; [[ ${QUICK:-0} == 1 ]] && cmd="QUICK=1 bash bench/run.sh"
python3 bench/report.py "$OUT" "$ROOT/target/criterion" "$ROOT" "$cmd"
echo "wrote BENCHMARKS.md and bench/latency.svg"
