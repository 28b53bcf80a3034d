#!/usr/bin/env bash
# The scenarios of Docker's own macvlan integration tests (moby v20.10.24,
# integration/network/macvlan/macvlan_test.go), written as underlay's with the docker CLI
# against `-d underlay-macvlan` (Debian's docker.io 20.10, tests/docker_lab.sh's lab). This
# kernel has no dummy and no 802.1Q links: the scenarios that need them (a parent made on the
# fly, a user-made sub-interface, no parent, internal) are in vm/tests/docker_macvlan.sh on a
# stock kernel; here a user-made macvlan link named like a sub-interface stands in for one,
# and a network without a parent is refused naming what the kernel lacks.
#
#   1. Persistence: a network and its container survive a dockerd restart;
#   2. Subinterface: `docker network rm` keeps a parent the user made;
#   3. OverlapKeepExisting / OverlapParent: two networks on one parent (Docker 27; 20.10
#      refuses the second, README "differs"), removed in either order, the parent kept;
#   4. OverlapParentPassthru: passthru refused on a used parent, a second network refused on a
#      passthru one;
#   5. NilParent / InternalMode: refused here, naming the kernel feature, leaving nothing;
#   6. MultiSubnetWithParent: dual stack, two subnets per family, static --ip/--ip6, each
#      container reaches the other over both, gateways as given, else the subnet's first
#      address (dockerd 20.10 asks the IPAM driver, Docker's or underlay's, for one);
#   7. Addressing: the default routes Docker's test expects (IPv4 via the IPAM's gateway,
#      IPv6 via the one given).
#
#   bash tests/docker_macvlan.sh [path/to/underlay]     # default: target/debug/underlay
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
UL_BIN=$(realpath "${1:-$ROOT/target/debug/underlay}")
# shellcheck source=tests/docker_lab.sh
source "$ROOT/tests/docker_lab.sh"
# shellcheck source=tests/checks.sh
source "$ROOT/tests/checks.sh"
run() { $D run -d --name "$@" >/dev/null; }
ulnames() { UL network ls --format json | jq -r .Name | sort | tr '\n' ' '; }
link_exists() { ip -n $DK_HOST link show "$1" >/dev/null 2>&1; }
# Docker's network settings of a container on a network, as a Go template field.
nset() { $D inspect -f "{{(index .NetworkSettings.Networks \"$2\").$3}}" "$1"; }
in_ctr() { nsenter --net="$(sandbox "$1")" "${@:2}"; }

dk_deps
cleanup() { dk_cleanup; }
if ip netns list | grep -qw $DK_HOST || [ -e $DK_DATA ]; then
  echo "docker macvlan: a previous run left $DK_HOST or $DK_DATA; cleaning up first" >&2
  cleanup
fi
trap cleanup EXIT
rm -f "$UL_LOG" "$DK_LOG"
dk_lab_up
dockerd_start
dk_image
underlay_start
HOST0=$(host_view)

echo "== 1. Persistence: across a dockerd restart"
$D network create -d underlay-macvlan --subnet=172.16.86.0/24 --gateway=172.16.86.1 \
  -o parent=eth0 dm-persist >/dev/null
run p1 --restart=always --net=dm-persist $DK_IMAGE sleep 600
ip_p1=$(cip p1 dm-persist)
dockerd_stop
dockerd_start
eq "the network is there after the restart" "$($D network inspect -f '{{.Driver}} {{.Name}}' dm-persist 2>&1)" "underlay-macvlan dm-persist"
eq "its container is back with its address" "$(until_eq 20 "cip p1 dm-persist 2>/dev/null" "$ip_p1")" "$ip_p1"
check "and reaches the router" $D exec p1 ping -c 2 -w 4 172.16.86.1
run p2 --net=dm-persist $DK_IMAGE sleep 600
check "a new container joins it" $D exec p2 ping -c 2 -w 4 "$ip_p1"
$D rm -f p1 p2 >/dev/null
$D network rm dm-persist >/dev/null
eq "removed, nothing is left" "$(ulnames)|$(host_view)" "|$HOST0"

echo "== 2. Subinterface: a parent the user made is kept"
# (A macvlan link named like a sub-interface stands in for the user's eth0.20.)
ip -n $DK_HOST link add eth0.20 link eth0 type macvlan mode bridge
ip -n $DK_HOST link set eth0.20 up
$D network create -d underlay-macvlan --subnet=192.168.20.0/24 -o parent=eth0.20 dm-subinterface >/dev/null
run s1 --net=dm-subinterface $DK_IMAGE sleep 600
has "the container's link is on it" "$(in_ctr s1 ip -d link show eth0)" "macvlan mode bridge"
$D rm -f s1 >/dev/null
$D network rm dm-subinterface >/dev/null
check "docker network rm keeps the user's eth0.20" link_exists eth0.20
ip -n $DK_HOST link del eth0.20

echo "== 3. OverlapKeepExisting / OverlapParent: two networks on one parent"
$D network create -d underlay-macvlan --subnet=192.168.40.0/24 -o parent=eth1 dm-subinterface >/dev/null
out=$($D network create -d underlay-macvlan --subnet=192.168.41.0/24 -o parent=eth1 dm-parent-net-overlap 2>&1) \
  && pass "a second network on a used parent (Docker 27; 20.10 refuses it)" || fail "second network refused: $out"
run o1 --net=dm-subinterface $DK_IMAGE sleep 600
run o2 --net=dm-parent-net-overlap $DK_IMAGE sleep 600
eq "each network hands out its own first address" "$(cip o1 dm-subinterface) $(cip o2 dm-parent-net-overlap)" "192.168.40.2 192.168.41.2"
$D rm -f o1 o2 >/dev/null
$D network rm dm-parent-net-overlap >/dev/null
check "the second removed first: the parent stays" link_exists eth1
$D network rm dm-subinterface >/dev/null
eq "then the first: the parent stays, up" "$(ip -n $DK_HOST -o link show eth1 | grep -o 'state [A-Z]*')" "state UP"
# The other order.
$D network create -d underlay-macvlan --subnet=192.168.40.0/24 -o parent=eth1 first >/dev/null
$D network create -d underlay-macvlan --subnet=192.168.41.0/24 -o parent=eth1 second >/dev/null
$D network rm first >/dev/null
run o3 --net=second $DK_IMAGE sleep 600
check "the first removed: the second still works" $D exec o3 ip -4 addr show eth0
$D rm -f o3 >/dev/null
$D network rm second >/dev/null
eq "nothing is left" "$(ulnames)|$(host_view)" "|$HOST0"

echo "== 4. OverlapParentPassthru: passthru owns its parent"
$D network create -d underlay-macvlan --subnet=192.168.40.0/24 -o parent=eth1 -o macvlan_mode=passthru pt >/dev/null
out=$($D network create -d underlay-macvlan --subnet=192.168.41.0/24 -o parent=eth1 dm-parent-net-overlap 2>&1 || true)
has "a network on a passthru network's parent is refused" "$out" "already using parent interface eth1"
$D network rm pt >/dev/null
$D network create -d underlay-macvlan --subnet=192.168.40.0/24 -o parent=eth1 br >/dev/null
out=$($D network create -d underlay-macvlan --subnet=192.168.41.0/24 -o parent=eth1 -o macvlan_mode=passthru pt2 2>&1 || true)
has "passthru on a used parent is refused" "$out" "cannot use mode passthru, macvlan network br is already using parent interface eth1"
$D network rm br >/dev/null
check "the parent is kept" link_exists eth1
eq "nothing is left" "$(ulnames)|$(host_view)" "|$HOST0"

echo "== 5. NilParent and InternalMode: a dummy parent, which this kernel cannot make"
for flags in "" "--internal"; do
  # shellcheck disable=SC2086
  out=$($D network create -d underlay-macvlan $flags --subnet=192.168.50.0/24 dm-nil-parent 2>&1 || true)
  has "no parent ${flags:+(with $flags) }is refused, naming the kernel feature" "$out" "this kernel lacks dummy link support"
  eq "and leaves nothing: Docker, underlay, host" \
    "$($D network ls -q --filter name=dm-nil-parent | grep -c . || true)|$(ulnames)|$(host_view)" "0||$HOST0"
done

echo "== 6. MultiSubnetWithParent: dual stack, two subnets per family, static addresses"
multi() { # network name, IPAM driver flag
  # shellcheck disable=SC2086
  $D network create -d underlay-macvlan $2 --ipv6 -o parent=eth0 \
    --subnet=192.168.100.0/24 --subnet=192.168.102.0/24 --gateway=192.168.102.254 \
    --subnet=2001:db8:abc2::/64 --subnet=2001:db8:abc4::/64 --gateway=2001:db8:abc4::254 "$1" >/dev/null
  run "$1-1" --net="$1" --ip=192.168.100.20 --ip6=2001:db8:abc2::20 $DK_IMAGE sleep 600
  run "$1-2" --net="$1" --ip=192.168.100.21 --ip6=2001:db8:abc2::21 $DK_IMAGE sleep 600
  run "$1-3" --net="$1" --ip=192.168.102.20 --ip6=2001:db8:abc4::20 $DK_IMAGE sleep 600
  run "$1-4" --net="$1" --ip=192.168.102.21 --ip6=2001:db8:abc4::21 $DK_IMAGE sleep 600
  eq "$1: the static addresses" \
    "$(for k in 1 2 3 4; do echo -n "$(nset "$1-$k" "$1" IPAddress),$(nset "$1-$k" "$1" GlobalIPv6Address) "; done)" \
    "192.168.100.20,2001:db8:abc2::20 192.168.100.21,2001:db8:abc2::21 192.168.102.20,2001:db8:abc4::20 192.168.102.21,2001:db8:abc4::21 "
  check "$1: the second reaches the first over IPv4" $D exec "$1-2" ping -c 2 -w 4 192.168.100.20
  check "$1: and over IPv6" $D exec "$1-2" ping -6 -c 2 -w 6 2001:db8:abc2::20
  check "$1: the fourth reaches the third over IPv4" $D exec "$1-4" ping -c 2 -w 4 192.168.102.20
  check "$1: and over IPv6" $D exec "$1-4" ping -6 -c 2 -w 6 2001:db8:abc4::20
  eq "$1: the third's gateways are the ones given" "$(nset "$1-3" "$1" Gateway) $(nset "$1-3" "$1" IPv6Gateway)" \
    "192.168.102.254 2001:db8:abc4::254"
}
multi dualstack ""
eq "Docker's IPAM: the first container's gateways are its subnets' first addresses (as in 20.10)" \
  "$(nset dualstack-1 dualstack Gateway) $(nset dualstack-1 dualstack IPv6Gateway)" "192.168.100.1 2001:db8:abc2::1"
$D rm -f dualstack-1 dualstack-2 dualstack-3 dualstack-4 >/dev/null
$D network rm dualstack >/dev/null
multi dualstack_ul "--ipam-driver underlay"
eq "underlay's IPAM too: dockerd 20.10 asks the IPAM driver for a gateway where none is given" \
  "$(nset dualstack_ul-1 dualstack_ul Gateway) $(nset dualstack_ul-1 dualstack_ul IPv6Gateway)" "192.168.100.1 2001:db8:abc2::1"
$D rm -f dualstack_ul-1 dualstack_ul-2 dualstack_ul-3 dualstack_ul-4 >/dev/null
$D network rm dualstack_ul >/dev/null
eq "nothing is left" "$(ulnames)|$(host_view)" "|$HOST0"

echo "== 7. Addressing: default routes"
$D network create -d underlay-macvlan --ipv6 -o parent=eth0 -o macvlan_mode=bridge \
  --subnet=192.168.130.0/24 --subnet=2001:db8:abca::/64 --gateway=2001:db8:abca::254 dualstackbridge >/dev/null
run a1 --net=dualstackbridge $DK_IMAGE sleep 600
has "IPv4 via the gateway Docker's IPAM chose" "$($D exec a1 ip route)" "default via 192.168.130.1 dev eth0"
has "IPv6 via the one given" "$($D exec a1 ip -6 route)" "default via 2001:db8:abca::254 dev eth0"
$D rm -f a1 >/dev/null
$D network rm dualstackbridge >/dev/null
eq "nothing is left" "$(ulnames)|$(host_view)" "|$HOST0"

checks_done "docker macvlan"
