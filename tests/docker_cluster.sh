#!/usr/bin/env bash
# Docker's multi-host recipe on two hosts sharing one etcd: the same
#   docker network create -d macvlan --ipam-driver underlay --subnet ... --gateway ... -o parent=eth0 lan
# on each of two dockerd instances (Debian's docker.io 20.10), each with its own `underlay
# daemon --cluster-store etcd://...`, hands out addresses unique across both hosts, and
# containers on the two hosts reach each other:
#
#   1. the recipe on both hosts with Docker's built-in macvlan driver: six containers, six
#      different addresses, none the gateway or the --aux-address; pings across hosts;
#   2. a static --ip taken on one host is refused on the other, naming the host that holds it;
#      a network with a different gateway for the same subnet is refused;
#   3. -d underlay-macvlan on the same recipe: unique too; --ipam-opt scope=local opts a pool
#      out (both hosts hand out the same first address);
#   4. a dockerd restart (live-restore): the same addresses, no extra claims; host 1's daemon
#      frozen (SIGSTOP) while host 2 runs containers: none gets host 1's addresses;
#   5. etcd stopped: docker run fails naming the cluster store, docker rm succeeds, and the
#      daemon's reconcile releases the address once etcd is back;
#   6. everything removed: no claim and no pool left in etcd.
#
# Lab: ul-dc-lan holds the segment (bridge br0, the router 172.16.86.1) and the management
# bridge mg (10.251.0.1, etcd on port 23890); hosts ul-dc-n1 and ul-dc-n2 have eth0 on br0 and
# mgmt0 on mg. Each host's dockerd and underlay daemon run in its network namespace and in a
# mount namespace of its own, where /run/docker/plugins is that host's plugin directory (so
# each dockerd finds its own underlay daemon).
#
#   bash tests/docker_cluster.sh [path/to/underlay]     # default: target/debug/underlay
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
UL_BIN=$(realpath "${1:-$ROOT/target/debug/underlay}")
# shellcheck source=tests/docker_lab.sh
source "$ROOT/tests/docker_lab.sh"
LAN=ul-dc-lan
ETCD_URL=http://10.251.0.1:23890
STORE=etcd://10.251.0.1:23890
WORK=/tmp/ul-dc
# shellcheck source=tests/checks.sh
source "$ROOT/tests/checks.sh"

# Host $1's docker CLI, paths and underlay CLI.
dk() { local i=$1; shift; DOCKER_HOST=unix:///run/ul-dc$i.sock $D "$@"; }
data() { echo /var/lib/ul-dc$1; }
exe() { echo /run/ul-dc$1; }
plugins() { echo /run/ul-dc-plugins$1; }
ul() { local i=$1; shift; nsenter --net=/run/netns/ul-dc-n$i env UNDERLAY_STATE_DIR=/var/lib/ul-dc-state$i \
  "$UL_BIN" --cluster-store $STORE --node n$i "$@"; }

# Host $1's mount namespace, kept in a file so it outlives a dockerd restart: there
# /run/docker/plugins is the host's own plugin directory, and dockerd's namespace mounts stay
# visible to the underlay daemon.
mntns() { echo /run/ul-dc-mnt/ns$1; }
mount_ns_up() {
  local i=$1
  mkdir -p /run/ul-dc-mnt "$(plugins "$i")" /run/docker/plugins
  if ! mountpoint -q /run/ul-dc-mnt; then
    mount --bind /run/ul-dc-mnt /run/ul-dc-mnt
    mount --make-private /run/ul-dc-mnt
  fi
  touch "$(mntns "$i")"
  unshare --mount="$(mntns "$i")" --propagation slave true
  nsenter --mount="$(mntns "$i")" mount --bind "$(plugins "$i")" /run/docker/plugins
}
# For background jobs: nsenter itself is the job (a function run with & is a subshell, and $!
# would be its pid), and it execs the command, keeping the pid.
in_host() { IN_HOST=(nsenter --mount="$(mntns "$1")" --net=/run/netns/ul-dc-n$1); }

host_start() { # dockerd, then (if not running) underlay's daemon, both in the host's namespaces
  local i=$1
  rm -f /run/ul-dc$i.sock
  mkdir -p "$(data "$i")" "$(exe "$i")" /var/lib/ul-dc-state$i
  in_host "$i"
  "${IN_HOST[@]}" setsid dockerd --data-root "$(data "$i")" --exec-root "$(exe "$i")" \
    -H unix:///run/ul-dc$i.sock --pidfile "$(exe "$i")".pid --live-restore \
    --iptables=false --ip6tables=false --ip-masq=false --bridge=none --userland-proxy=false \
    >>$WORK/dockerd$i.log 2>&1 </dev/null &
  for _ in $(seq 1 300); do dk "$i" info >/dev/null 2>&1 && break; sleep 0.1; done
  dk "$i" info >/dev/null 2>&1 || { echo "dockerd $i did not come up:"; tail -5 $WORK/dockerd$i.log; return 1; }
  local u; u=$(cat /run/ul-dc$i.ulpid 2>/dev/null || true)
  [ -n "$u" ] && kill -0 "$u" 2>/dev/null && return 0
  local before; before=$(grep -c "ready in" $WORK/underlay$i.log 2>/dev/null || true)
  in_host "$i"
  "${IN_HOST[@]}" setsid env UNDERLAY_STATE_DIR=/var/lib/ul-dc-state$i "$UL_BIN" --cluster-store $STORE \
    --node n$i daemon --docker-host unix:///run/ul-dc$i.sock --log-level debug --log-target stderr \
    --cluster-reconcile 1 \
    >>$WORK/underlay$i.log 2>&1 </dev/null &
  echo $! > /run/ul-dc$i.ulpid
  for _ in $(seq 1 100); do
    [ "$(grep -c "ready in" $WORK/underlay$i.log 2>/dev/null)" -gt "${before:-0}" ] && return 0
    sleep 0.05
  done
  echo "underlay daemon $i did not come up:"; tail -5 $WORK/underlay$i.log; return 1
}

dockerd_down() { # $1: host; containers keep running (live-restore)
  local p; p=$(cat "$(exe "$1")".pid 2>/dev/null) || return 0
  kill "$p" 2>/dev/null || true
  for _ in $(seq 1 300); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
}

cleanup() {
  set +e
  for i in 1 2; do
    if dk $i info >/dev/null 2>&1; then
      local ids; ids=$(dk $i ps -aq)
      [ -z "$ids" ] || dk $i rm -f $ids >/dev/null 2>&1
      for n in $(dk $i network ls -q --filter type=custom); do dk $i network rm "$n" >/dev/null 2>&1; done
    fi
    dockerd_down $i
    local u; u=$(cat /run/ul-dc$i.ulpid 2>/dev/null)
    [ -n "$u" ] && kill "$u" 2>/dev/null
    for _ in $(seq 1 50); do [ -n "$u" ] && kill -0 "$u" 2>/dev/null || break; sleep 0.1; done
    # The mount namespace goes with its file (and the mounts dockerd made in it).
    umount -l "$(mntns $i)" 2>/dev/null
    mount | awk '{print $3}' | grep -E "^($(data $i)|$(exe $i))(/|$)" | sort -r | xargs -r -n1 umount -l 2>/dev/null
    rm -rf "$(data $i)" "$(exe $i)" "$(exe $i)".pid "$(plugins $i)" /var/lib/ul-dc-state$i /run/ul-dc$i.sock \
      /run/ul-dc$i.ulpid "$(mntns $i)"
  done
  mountpoint -q /run/ul-dc-mnt && umount -l /run/ul-dc-mnt
  rmdir /run/ul-dc-mnt 2>/dev/null
  [ -f $WORK/etcd.pid ] && kill "$(cat $WORK/etcd.pid)" 2>/dev/null
  sleep 0.3
  rmdir /run/docker/plugins /run/docker 2>/dev/null
  for ns in ul-dc-n1 ul-dc-n2 $LAN; do ip netns del $ns 2>/dev/null; done
  rm -rf $WORK/etcd $WORK/etcd.pid
  return 0
}

lab_up() {
  ip netns add $LAN; ip -n $LAN link set lo up
  ip -n $LAN link add br0 type bridge; ip -n $LAN link set br0 up
  ip -n $LAN addr add 172.16.86.1/24 dev br0
  ip -n $LAN link add mg type bridge; ip -n $LAN link set mg up
  ip -n $LAN addr add 10.251.0.1/24 dev mg
  for i in 1 2; do
    ip netns add ul-dc-n$i; ip -n ul-dc-n$i link set lo up
    ip link add uldcl$i type veth peer name uldcL$i
    ip link set uldcl$i netns ul-dc-n$i; ip link set uldcL$i netns $LAN
    ip -n ul-dc-n$i link set uldcl$i name eth0; ip -n ul-dc-n$i link set eth0 up
    ip -n $LAN link set uldcL$i master br0 up
    ip link add uldcm$i type veth peer name uldcM$i
    ip link set uldcm$i netns ul-dc-n$i; ip link set uldcM$i netns $LAN
    ip -n ul-dc-n$i link set uldcm$i name mgmt0; ip -n ul-dc-n$i link set mgmt0 up
    ip -n ul-dc-n$i addr add 10.251.0.1$i/24 dev mgmt0
    ip -n $LAN link set uldcM$i master mg up
  done
  etcd_start
}

etcd_start() {
  mkdir -p $WORK/etcd
  nsenter --net=/run/netns/$LAN setsid etcd --name dc --data-dir $WORK/etcd/data \
    --listen-client-urls $ETCD_URL --advertise-client-urls $ETCD_URL \
    --listen-peer-urls http://127.0.0.1:23891 --initial-advertise-peer-urls http://127.0.0.1:23891 \
    --initial-cluster dc=http://127.0.0.1:23891 >>$WORK/etcd/log 2>&1 </dev/null &
  echo $! > $WORK/etcd.pid
  for _ in $(seq 1 100); do
    ul 1 cluster nodes >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "etcd did not come up:"; tail -5 $WORK/etcd/log; return 1
}

etcd_stop() {
  local p; p=$(cat $WORK/etcd.pid)
  kill "$p"; for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
}

ip_of() { dk "$1" inspect -f "{{(index .NetworkSettings.Networks \"$3\").IPAddress}}" "$2"; }
pings() { dk "$1" exec "$2" ping -c 4 -w 4 -W 1 "$3" 2>&1 | grep -q ' 0% packet loss\|[1-4] packets received'; }
endpoints() { ul 1 cluster nodes --format json | jq -s -c 'map({(.Name): .Endpoints}) | add'; }

dk_deps
mkdir -p $WORK
if ip netns list | grep -qw $LAN || [ -e /run/ul-dc1.sock ]; then
  echo "docker cluster: a previous run left its lab; cleaning up first" >&2
  cleanup
fi
trap cleanup EXIT
rm -f $WORK/*.log
lab_up
for i in 1 2; do mount_ns_up $i; host_start $i; (DOCKER_HOST=unix:///run/ul-dc$i.sock; dk_image); done

echo "== 1. the recipe on two hosts, Docker's built-in macvlan on underlay's IPAM"
for i in 1 2; do
  dk $i network create -d macvlan --ipam-driver underlay --subnet 172.16.86.0/24 --gateway 172.16.86.1 \
    --aux-address router2=172.16.86.2 -o parent=eth0 lan >/dev/null
done
# Both hosts at once: their daemons race for the same lowest addresses.
runs=()
for k in 1 2 3; do
  for i in 1 2; do dk $i run -d --name c$k --net lan $DK_IMAGE sleep 3600 >/dev/null & runs+=($!); done
done
wait "${runs[@]}"
ips=$(for i in 1 2; do for k in 1 2 3; do ip_of $i c$k lan; done; done | sort)
eq "six containers, six addresses" "$(sort -u <<<"$ips" | grep -c .)" 6
eq "none is the gateway or the --aux-address" "$(grep -cxE '172\.16\.86\.(1|2)' <<<"$ips" || true)" 0
eq "every address claimed in etcd, three per host" "$(endpoints)" '{"n1":3,"n2":3}'
far=$(ip_of 2 c1 lan)
if pings 1 c1 "$far"; then pass "a container on host 1 reaches one on host 2 ($far)"; else fail "c1 on host 1 cannot reach $far"; fi
if pings 2 c2 172.16.86.1; then pass "and the LAN's router"; else fail "c2 on host 2 cannot reach the router"; fi

echo "== 2. one static address, two hosts; one gateway per subnet"
dk 1 run -d --name s1 --net lan --ip 172.16.86.50 $DK_IMAGE sleep 3600 >/dev/null
eq "host 1 takes 172.16.86.50" "$(ip_of 1 s1 lan)" 172.16.86.50
out=$(dk 2 run -d --name s2 --net lan --ip 172.16.86.50 $DK_IMAGE sleep 3600 2>&1 || true)
has "host 2 is refused, naming host 1" "$out" "Address already in use: 172.16.86.50 of pool 172.16.86.0/24 is held by node n1"
dk 2 rm -f s2 >/dev/null 2>&1 || true
out=$(dk 2 network create -d macvlan --ipam-driver underlay --subnet 172.16.86.0/24 --gateway 172.16.86.254 \
  -o parent=eth0 lan2 2>&1 || true)
has "another gateway for the subnet is refused" "$out" "has gateway 172.16.86.1 on every node"
eq "and leaves no network behind" "$(dk 2 network ls -q --filter name=lan2 | grep -c . || true)" 0

echo "== 3. -d underlay-macvlan; --ipam-opt scope=local"
for i in 1 2; do
  dk $i network create -d underlay-macvlan --ipam-driver underlay --subnet 172.16.91.0/24 \
    --gateway 172.16.91.1 -o parent=eth0 ul >/dev/null
  dk $i network create -d underlay-macvlan --ipam-driver underlay --ipam-opt scope=local \
    --subnet 172.16.92.0/24 --gateway 172.16.92.1 -o parent=eth0 mine >/dev/null
  dk $i run -d --name u1 --net ul $DK_IMAGE sleep 3600 >/dev/null
  dk $i run -d --name m1 --net mine $DK_IMAGE sleep 3600 >/dev/null
done
u=$( (ip_of 1 u1 ul; ip_of 2 u1 ul) | sort -u | grep -c .)
eq "underlay-macvlan on a cluster-wide pool: two hosts, two addresses" "$u" 2
eq "scope=local: each host hands out its own first address" "$(ip_of 1 m1 mine) $(ip_of 2 m1 mine)" "172.16.92.2 172.16.92.2"
if pings 1 u1 "$(ip_of 2 u1 ul)"; then pass "underlay-macvlan containers reach each other across hosts"; else fail "u1 on host 1 cannot reach u1 on host 2"; fi

echo "== 4. dockerd restarted (live-restore): the same addresses, nothing more claimed"
before_ips=$(for k in 1 2 3; do ip_of 1 c$k lan; done)
before=$(endpoints)
dockerd_down 1
host_start 1
eq "the containers kept their addresses" "$(for k in 1 2 3; do ip_of 1 c$k lan; done)" "$before_ips"
eq "no claim added or lost" "$(endpoints)" "$before"
dk 1 run -d --name c4 --net lan $DK_IMAGE sleep 3600 >/dev/null
new=$(ip_of 1 c4 lan)
if grep -qx "$new" <<<"$ips" || [ "$new" = 172.16.86.50 ]; then fail "a new container got $new, which is held"; else pass "a new container gets a free address ($new)"; fi

echo "== 4b. host 1's daemon frozen (SIGSTOP) while its containers run: nothing expires"
mine=$(for c in c1 c2 c3 c4 s1; do ip_of 1 $c lan; done)
kill -STOP "$(cat /run/ul-dc1.ulpid)"
sleep 3 # three of its reconcile intervals: no lease or TTL frees its addresses meanwhile
for k in 1 2; do dk 2 run -d --name p$k --net lan $DK_IMAGE sleep 3600 >/dev/null; done
theirs=$(for k in 1 2; do ip_of 2 p$k lan; done)
eq "host 2's new containers get none of frozen host 1's addresses" \
  "$(grep -cxF -f <(echo "$mine") <<<"$theirs" || true)" 0
kill -CONT "$(cat /run/ul-dc1.ulpid)"
dk 1 run -d --name c5 --net lan $DK_IMAGE sleep 3600 >/dev/null
c5=$(ip_of 1 c5 lan)
if grep -qxF "$c5" <<<"$mine$(printf '\n')$theirs"; then fail "host 1, thawed, handed out $c5, which is held"; else pass "host 1, thawed, goes on ($c5)"; fi
for k in 1 2; do dk 2 rm -f p$k >/dev/null; done
dk 1 rm -f c5 >/dev/null

echo "== 5. etcd stopped: a run fails closed, a removal succeeds and is replayed"
want=$(endpoints | jq -c '.n1 -= 1')
etcd_stop
held=$(ip_of 1 c1 lan)
out=$(dk 2 run -d --name x1 --net lan $DK_IMAGE sleep 3600 2>&1 || true)
has "a run fails, naming the cluster store" "$out" "cluster store etcd://10.251.0.1:23890"
dk 2 rm -f x1 >/dev/null 2>&1 || true
if dk 1 rm -f c1 >/dev/null; then pass "docker rm succeeds without etcd"; else fail "docker rm failed without etcd"; fi
etcd_start
replayed=no
for _ in $(seq 1 50); do
  [ "$(endpoints)" = "$want" ] && { replayed=yes; break; }
  sleep 0.2
done
eq "the daemon's reconcile released $held once etcd was back" "$replayed" yes
dk 2 run -d --name x2 --net lan --ip "$held" $DK_IMAGE sleep 3600 >/dev/null
eq "and host 2 can take it" "$(ip_of 2 x2 lan)" "$held"

echo "== 6. everything removed: nothing left in etcd"
for i in 1 2; do
  ids=$(dk $i ps -aq); [ -z "$ids" ] || dk $i rm -f $ids >/dev/null
  for n in lan ul mine; do dk $i network rm $n >/dev/null; done
done
eq "no node holds an address" "$(endpoints)" '{"n1":0,"n2":0}'
eq "no pool is left defined" "$(ul 1 cluster pools --format json | grep -c . || true)" 0

checks_done "docker cluster"
