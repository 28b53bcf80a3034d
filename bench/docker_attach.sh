#!/usr/bin/env bash
# Docker plugin latency and the daemon's memory, in one run, side by side with Docker's own
# macvlan driver: a running container is connected to and disconnected from an underlay-macvlan
# network (on eth0) and a built-in macvlan network (on eth1, an identical veth) N times each,
# alternating, each `docker network connect` / `disconnect` timed around the docker CLI (whose
# own round trip is part of both). Also: `underlay daemon`'s resident memory idle (after start)
# and busy (after the runs), and its peak.
#
#   bash bench/docker_attach.sh [N]     (BENCH_OUT=DIR also writes the raw samples)
#
# Needs root; uses the lab of tests/docker_lab.sh (its own namespaces and directories).
set -euo pipefail
N=${1:-30}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
UL_BIN=$(bash "$ROOT/scripts/build-static.sh")
# shellcheck source=tests/docker_lab.sh
source "$ROOT/tests/docker_lab.sh"
UL_LOG_LEVEL=info
OUT=${BENCH_OUT:-$(mktemp -d)}
dk_deps
trap dk_cleanup EXIT
dk_cleanup
rm -f "$UL_LOG" "$DK_LOG"
dk_lab_up
dockerd_start
dk_image
underlay_start
sleep 1
rss() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; }
idle=$(rss "$UL_PID" VmRSS)

# The container lives on a network of its own; the measured networks come and go on it.
$D network create -d underlay-macvlan --subnet 172.16.90.0/24 -o parent=eth0 home >/dev/null
$D network create -d underlay-macvlan --subnet 172.16.86.0/24 --gateway 172.16.86.1 -o parent=eth0 ul_net >/dev/null
$D network create -d macvlan --subnet 172.16.87.0/24 --gateway 172.16.87.1 -o parent=eth1 dk_net >/dev/null
$D run -d --name bench --net home $DK_IMAGE sleep 3600 >/dev/null
t() { local t0=$EPOCHREALTIME; "$@" >/dev/null; local t1=$EPOCHREALTIME; echo $(( ${t1/./} - ${t0/./} )); }
: > "$OUT/docker-u-connect.txt"; : > "$OUT/docker-u-disconnect.txt"
: > "$OUT/docker-b-connect.txt"; : > "$OUT/docker-b-disconnect.txt"
for i in $(seq "$N"); do
  # Alternate which driver goes first, so drift and caches favour neither.
  order="u b"; (( i % 2 )) && order="b u"
  for who in $order; do
    net=ul_net; [ "$who" = b ] && net=dk_net
    t $D network connect $net bench >> "$OUT/docker-$who-connect.txt"
    sleep 0.05
    t $D network disconnect $net bench >> "$OUT/docker-$who-disconnect.txt"
    sleep 0.05
  done
done
busy=$(rss "$UL_PID" VmRSS)
peak=$(rss "$UL_PID" VmHWM)
echo "$idle $busy $peak" > "$OUT/daemon-memory-kib.txt"
$D rm -f bench >/dev/null
$D network rm home ul_net dk_net >/dev/null

stats() { sort -n | awk '{a[NR]=$1} END {printf "median %.2f ms, p90 %.2f ms", a[int(NR*0.5)+1]/1000, a[int(NR*0.9)]/1000}'; }
med() { sort -n "$1" | awk '{a[NR]=$1} END {print a[int(NR*0.5)+1]}'; }
for who in u b; do
  name="underlay-macvlan"; [ "$who" = b ] && name="built-in macvlan"
  echo "$name connect    (n=$N): $(stats < "$OUT/docker-$who-connect.txt")"
  echo "$name disconnect (n=$N): $(stats < "$OUT/docker-$who-disconnect.txt")"
done
paste "$OUT/docker-u-connect.txt" "$OUT/docker-u-disconnect.txt" | awk '{print $1 + $2}' > "$OUT/docker-u-both.txt"
paste "$OUT/docker-b-connect.txt" "$OUT/docker-b-disconnect.txt" | awk '{print $1 + $2}' > "$OUT/docker-b-both.txt"
awk -v u="$(med "$OUT/docker-u-both.txt")" -v b="$(med "$OUT/docker-b-both.txt")" \
  'BEGIN {printf "connect+disconnect: underlay / built-in = %.3f (%.1f ms vs %.1f ms)\n", u / b, u / 1000, b / 1000}'
echo "daemon memory: idle ${idle} KiB, after the runs ${busy} KiB, peak ${peak} KiB"
