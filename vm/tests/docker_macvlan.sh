# The scenarios of Docker's own macvlan integration tests (moby v20.10.24,
# integration/network/macvlan) that need dummy and 802.1Q links, with Debian's Docker engine
# and the docker CLI against `-d underlay-macvlan` (the others run on the host's kernel:
# tests/docker_macvlan.sh):
#   Persistence (an 802.1Q parent made on the fly survives a dockerd restart), Subinterface
#   (a user-made one is kept), OverlapParent and OverlapDeleteCreatedSecond (a made parent
#   shared by two networks goes with the last, in either order; its lower link stays),
#   NilParent and InternalMode (a dummy parent dm-<id12>; no way out), MultiSubnetNoParent
#   (dual stack, static addresses; internal: no default route, as in Docker 26.1).
# Containers are pinged by address: Docker's embedded DNS needs iptables, which the VM lacks.
mkdir -p /sys/fs/cgroup /var/lib /etc
mount -t cgroup2 none /sys/fs/cgroup 2>/dev/null
[ -e /etc/hosts ] || echo "127.0.0.1 localhost" > /etc/hosts
[ -e /etc/resolv.conf ] || : > /etc/resolv.conf
DK=/run/dk.sock
export DOCKER_HOST=unix://$DK
d() { /usr/sbin/docker "$@"; }
dockerd_up() {
  # DOCKER_RAMDISK: the VM's root is the initramfs, where runc cannot pivot_root.
  DOCKER_RAMDISK=true /usr/sbin/dockerd --data-root /tmp/docker --exec-root /run/dk -H unix://$DK --pidfile /run/dk.pid \
    --iptables=false --ip6tables=false --ip-masq=false --bridge=none --userland-proxy=false \
    --storage-driver vfs >> "/tmp/$T-dockerd.log" 2>&1 &
  DKPID=$!
  local i=0
  while ! d info >/dev/null 2>&1 && [ $i -lt 900 ]; do sleep 0.2; i=$((i + 1)); done
  d info >/dev/null 2>&1 || { fail "dockerd did not start:"; tail -5 "/tmp/$T-dockerd.log"; }
}
dockerd_down() {
  kill "$DKPID" 2>/dev/null
  local i=0
  while kill -0 "$DKPID" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.2; i=$((i + 1)); done
  while [ -e /run/dk.pid ] && [ $i -lt 400 ]; do sleep 0.2; i=$((i + 1)); done
}
/bin/underlay daemon --plugin-dir /run/docker/plugins --docker-host unix://$DK --log-target stderr \
  >> "/tmp/$T-daemon.log" 2>&1 &
ULPID=$!
dockerd_up
ok d import -c 'CMD ["/bin/sh"]' /busybox-image.tar bb:latest
run() { d run -d --name "$@" >/dev/null || fail "docker run $*"; }
cip() { d inspect -f "{{(index .NetworkSettings.Networks \"$2\").$3}}" "$1"; }
gone() { if ip link show "$1" >/dev/null 2>&1; then fail "$1 is still there"; fi; }
exists() { ip link show "$1" >/dev/null 2>&1 || fail "$1 is gone"; }
# pings CONTAINER -4|-6 ADDR: a fresh address may still be tentative; up to eight tries.
pings() {
  local i=0
  while [ $i -lt 8 ]; do
    d exec "$1" ping "$2" -c 1 -W 2 "$3" >/dev/null 2>&1 && return 0
    sleep 1; i=$((i + 1))
  done
  return 1
}

ip link add dm-dummy0 type dummy
ip link set dm-dummy0 up

# Persistence: the driver makes dm-dummy0.60, and it outlives a dockerd restart.
ok d network create -d underlay-macvlan --subnet=192.168.60.0/24 -o parent=dm-dummy0.60 dm-persist
has "vlan protocol 802.1Q id 60" ip -d link show dm-dummy0.60
dockerd_down
dockerd_up
has "underlay-macvlan" d network inspect -f '{{.Driver}}' dm-persist
exists dm-dummy0.60
run p1 --net=dm-persist bb sleep 600
has "inet 192.168.60.2/24" d exec p1 ip -4 addr show eth0
ok d rm -f p1
ok d network rm dm-persist
gone dm-dummy0.60

# Subinterface: a sub-interface the user made is kept.
ip link add link dm-dummy0 name dm-dummy0.20 type vlan id 20
ok d network create -d underlay-macvlan --subnet=192.168.20.0/24 -o parent=dm-dummy0.20 dm-subinterface
ok d network rm dm-subinterface
exists dm-dummy0.20
ip link del dm-dummy0.20

# OverlapParent: made by the first network, shared by the second, removed with the last.
ok d network create -d underlay-macvlan --subnet=192.168.40.0/24 -o parent=dm-dummy0.40 dm-subinterface
ok d network create -d underlay-macvlan --subnet=192.168.41.0/24 -o parent=dm-dummy0.40 dm-parent-net-overlap
ok d network rm dm-parent-net-overlap
exists dm-dummy0.40
ok d network rm dm-subinterface
gone dm-dummy0.40
exists dm-dummy0
# OverlapDeleteCreatedSecond: the network that made it removed first.
ok d network create -d underlay-macvlan --subnet=192.168.40.0/24 -o parent=dm-dummy0.40 dm-subinterface
ok d network create -d underlay-macvlan --subnet=192.168.41.0/24 -o parent=dm-dummy0.40 dm-parent-net-overlap
ok d network rm dm-subinterface
exists dm-dummy0.40
run o1 --net=dm-parent-net-overlap bb sleep 600
has "inet 192.168.41.2/24" d exec o1 ip -4 addr show eth0
ok d rm -f o1
ok d network rm dm-parent-net-overlap
gone dm-dummy0.40
exists dm-dummy0

# NilParent and InternalMode: a dummy parent dm-<id12>; the containers reach each other only.
for flags in "" "--internal"; do
  # shellcheck disable=SC2086
  id=$(d network create -d underlay-macvlan $flags --subnet=192.168.50.0/24 dm-nil-parent)
  dm="dm-$(echo "$id" | cut -c1-12)"
  has "dummy" ip -d link show "$dm"
  run n1 --net=dm-nil-parent bb sleep 600
  run n2 --net=dm-nil-parent bb sleep 600
  ok pings n2 -4 "$(cip n1 dm-nil-parent IPAddress)"
  has "Network is unreachable" d exec n1 ping -c 1 -W 1 8.8.8.8
  ok d rm -f n1 n2
  ok d network rm dm-nil-parent
  gone "$dm"
done

# MultiSubnetNoParent: dual stack, two subnets per family, static addresses.
ok d network create -d underlay-macvlan --ipv6 \
  --subnet=192.168.100.0/24 --subnet=192.168.102.0/24 --gateway=192.168.102.254 \
  --subnet=2001:db8:abc2::/64 --subnet=2001:db8:abc4::/64 --gateway=2001:db8:abc4::254 dualstackbridge
run m1 --net=dualstackbridge --ip=192.168.100.20 --ip6=2001:db8:abc2::20 bb sleep 600
run m2 --net=dualstackbridge --ip=192.168.100.21 --ip6=2001:db8:abc2::21 bb sleep 600
run m3 --net=dualstackbridge --ip=192.168.102.20 --ip6=2001:db8:abc4::20 bb sleep 600
run m4 --net=dualstackbridge --ip=192.168.102.21 --ip6=2001:db8:abc4::21 bb sleep 600
has "192.168.102.20" cip m3 dualstackbridge IPAddress
has "2001:db8:abc4::20" cip m3 dualstackbridge GlobalIPv6Address
ok pings m2 -4 192.168.100.20
ok pings m2 -6 2001:db8:abc2::20
ok pings m4 -4 192.168.102.20
ok pings m4 -6 2001:db8:abc4::20
hasnt "default" d exec m3 ip route
hasnt "default" d exec m3 ip -6 route
ok d rm -f m1 m2 m3 m4
ok d network rm dualstackbridge

dockerd_down
kill "$ULPID"; wait "$ULPID" 2>/dev/null
ip link del dm-dummy0
