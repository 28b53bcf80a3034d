#!/usr/bin/env bash
# Docker forgets things without telling its plugins; `underlay daemon --docker-reconcile`
# compares what it holds for Docker with Docker's API and releases what Docker no longer has
# (after two looks in a row). With a real dockerd (Debian's docker.io 20.10, in tests/docker_lab.sh's lab):
#
#   1. dockerd stopped for several reconcile intervals: nothing is released, and everything
#      works when it is back (its plugin activation makes the daemon look at once);
#   2. containers removed while the underlay daemon is down (Docker's Leave, DeleteEndpoint and
#      ReleaseAddress never arrive): the endpoint and the address are released by the
#      daemon's next reconciles, and the address can be taken again;
#   3. `underlay network rm --force` refuses a network Docker still has; dockerd's data
#      directory wiped while networks exist (the daemon down): `rm --force` and `prune` remove
#      what Docker no longer has, the daemon's reconcile the pool, and a new dockerd creates
#      networks on the same parents and subnets, and they work;
#   4. underlay's state directory lost: the daemon makes Docker's network and the pool of its
#      IPAM again from Docker's view (gateway, containers' addresses kept), and new containers
#      start on both.
#
#   bash tests/docker_reconcile.sh [path/to/underlay]     # default: target/debug/underlay
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
UL_BIN=$(realpath "${1:-$ROOT/target/debug/underlay}")
# shellcheck source=tests/docker_lab.sh
source "$ROOT/tests/docker_lab.sh"
# shellcheck source=tests/checks.sh
source "$ROOT/tests/checks.sh"
run() { $D run -d --name "$@" >/dev/null; }
ulnames() { UL network ls --format json | jq -r .Name | sort | tr '\n' ' '; }
pools() { # every pool underlay holds for Docker: its subnet and the addresses requested of it
  cat $UL_STATE/pools/*/* 2>/dev/null | jq -r '"\(.subnet.subnet)=\(.held // {} | keys | join(","))"' | sort | tr '\n' ' '
}
RECONCILE=(--docker-reconcile 1)

dk_deps
cleanup() { dk_cleanup; }
if ip netns list | grep -qw $DK_HOST || [ -e $DK_DATA ]; then
  echo "docker reconcile: a previous run left $DK_HOST or $DK_DATA; cleaning up first" >&2
  cleanup
fi
trap cleanup EXIT
rm -f "$UL_LOG" "$DK_LOG"
dk_lab_up
dockerd_start
dk_image
underlay_start "${RECONCILE[@]}"

$D network create -d underlay-macvlan --subnet=172.16.86.0/24 --gateway=172.16.86.1 \
  -o parent=eth0 own_net >/dev/null
$D network create -d macvlan --ipam-driver underlay --subnet=172.16.87.0/24 --gateway=172.16.87.1 \
  --aux-address router2=172.16.87.2 -o parent=eth1 ipam_net >/dev/null
run a1 --net=own_net $DK_IMAGE sleep 600
run b1 --net=ipam_net $DK_IMAGE sleep 600
eq "b1 gets the pool's first free address" "$($D inspect -f '{{(index .NetworkSettings.Networks "ipam_net").IPAddress}}' b1)" 172.16.87.3

echo "== 1. dockerd stopped for several intervals: nothing released"
dockerd_stop
before_pools=$(pools)
sleep 4
# (ipam_net is Docker's own macvlan driver on underlay's IPAM: only its pool is underlay's.)
eq "underlay keeps Docker's network" "$(ulnames)" "own_net "
eq "and its pools" "$(pools)" "$before_pools"
dockerd_start
$D start a1 b1 >/dev/null
eq "after the restart the containers run again" "$($D inspect -f '{{.State.Running}}' a1) $($D inspect -f '{{.State.Running}}' b1)" "true true"
grep -q "docker reconcile: Docker (re)connected" "$UL_LOG" && pass "the new dockerd's activation made the daemon look" \
  || fail "no reconcile look after dockerd reconnected"
sleep 3
eq "and nothing Docker has was released" "$(ulnames) $(pools)" "own_net  172.16.87.0/24=172.16.87.2,172.16.87.3 "

echo "== 2. containers removed while underlay's daemon is down"
ip_b1=$($D inspect -f '{{(index .NetworkSettings.Networks "ipam_net").IPAddress}}' b1)
underlay_stop
t0=$(date +%s)
timeout 180 $D rm -f a1 b1 >/dev/null 2>&1 || true
echo "(docker rm without the plugin took $(( $(date +%s) - t0 )) s)"
eq "Docker removed a1 and b1 without underlay" "$($D ps -aq --filter name=a1 --filter name=b1 | grep -c . || true)" 0
eq "underlay still has a1's endpoint" "$(UL network inspect own_net | jq '.[0].Containers | length')" 1
underlay_start "${RECONCILE[@]}"
eq "while it was down, $ip_b1 stayed held" "$(pools)" "172.16.87.0/24=172.16.87.2,$ip_b1 "
got=$(until_eq 15 pools "172.16.87.0/24=172.16.87.2 ")
eq "after two reconciles $ip_b1 is released (the aux address stays)" "$got" "172.16.87.0/24=172.16.87.2 "
run b2 --net=ipam_net --ip="$ip_b1" $DK_IMAGE sleep 600
eq "and a new container can take it" "$($D inspect -f '{{(index .NetworkSettings.Networks "ipam_net").IPAddress}}' b2)" "$ip_b1"
grep -q "docker reconcile: released address $ip_b1" "$UL_LOG" && pass "the daemon's log says so" || fail "no log line for $ip_b1"
eq "a1's endpoint is released too" "$(until_eq 10 "UL network inspect own_net | jq '.[0].Containers | length'" 0)" 0

echo "== 3. dockerd's data wiped while its networks exist"
$D rm -f b2 >/dev/null
$D network create -d underlay-macvlan --subnet=172.16.88.0/24 -o parent=eth0 own2 >/dev/null
# (underlay asks Docker for the name after CreateNetwork.)
for _ in $(seq 1 50); do UL network inspect own2 >/dev/null 2>&1 && break; sleep 0.1; done
out=$(UL network rm --force own_net 2>&1 || true)
has "underlay network rm --force refuses a network Docker still has" "$out" "Docker still has it: use \`docker network rm own_net\`"
# Without the daemon (no reconcile): the CLI's own way out.
underlay_stop
dockerd_stop
mount | awk '{print $3}' | grep -E "^($DK_DATA|$DK_EXEC)(/|$)" | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
rm -rf "$DK_DATA"; mkdir -p "$DK_DATA"
dockerd_start
dk_image
out=$(UL network rm own_net 2>&1 || true)
has "plain rm still leaves Docker's network to Docker" "$out" "is managed by docker"
eq "rm --force removes a network Docker no longer has" "$(UL network rm --force own_net)" own_net
eq "prune removes the other one" "$(UL network prune -f | tr '\n' ' ')" "Deleted Networks: own2 "
underlay_start "${RECONCILE[@]}"
eq "the daemon's reconcile lets go of the pool no network of Docker's has" "$(until_eq 10 pools "")" ""
$D network create -d underlay-macvlan --subnet=172.16.86.0/24 --gateway=172.16.86.1 \
  -o parent=eth0 own_again >/dev/null && pass "a new network on the same parent and subnet" || fail "own_again refused"
$D network create -d macvlan --ipam-driver underlay --subnet=172.16.87.0/24 --gateway=172.16.87.1 \
  -o parent=eth1 ipam_again >/dev/null && pass "and on underlay's IPAM" || fail "ipam_again refused"
run n1 --net=own_again $DK_IMAGE sleep 600
run n2 --net=ipam_again $DK_IMAGE sleep 600
eq "their containers get the first addresses" \
  "$($D inspect -f '{{(index .NetworkSettings.Networks "own_again").IPAddress}}' n1) $($D inspect -f '{{(index .NetworkSettings.Networks "ipam_again").IPAddress}}' n2)" \
  "172.16.86.2 172.16.87.2"
if $D exec n1 ping -c 2 -w 3 172.16.86.1 >/dev/null 2>&1; then pass "and reach the router"; else fail "n1 cannot reach its router"; fi

echo "== 4. underlay's state directory lost while Docker's networks and containers exist"
ip_n2=$($D inspect -f '{{(index .NetworkSettings.Networks "ipam_again").IPAddress}}' n2)
underlay_stop
rm -rf "$UL_STATE"; mkdir -p "$UL_STATE"
underlay_start "${RECONCILE[@]}"
eq "the daemon makes Docker's network again" "$(until_eq 10 ulnames "own_again ")" "own_again "
eq "and requests the pool again, with the gateway and n2's address" \
  "$(until_eq 10 pools "172.16.87.0/24=$ip_n2 ")" "172.16.87.0/24=$ip_n2 "
run n3 --net=own_again $DK_IMAGE sleep 600
run n4 --net=ipam_again $DK_IMAGE sleep 600
eq "new containers start on both, and n4 does not get n2's address or the gateway" \
  "$($D inspect -f '{{.State.Running}}' n3) $($D inspect -f '{{(index .NetworkSettings.Networks "ipam_again").IPAddress}}' n4)" \
  "true 172.16.87.3"
if $D exec n3 ping -c 2 -w 3 172.16.86.1 >/dev/null 2>&1; then pass "n3 reaches the router"; else fail "n3 cannot reach its router"; fi

checks_done "docker reconcile"
