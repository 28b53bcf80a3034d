#!/usr/bin/env bash
# A real Docker engine drives underlay: Debian's docker.io 20.10 (dockerd in its own network
# namespace) uses `underlay daemon` as network driver (-d underlay-macvlan, -d underlay-ipvlan)
# and as IPAM driver (--ipam-driver underlay):
#
#   1. the macvlan guide's bridge walkthrough: static --ip, a second container pings it,
#      --aux-address skipped, --ip-range gives .128 first, network rm leaves nothing;
#   2. the same with --ipam-driver underlay (docker network inspect shows its IPAM config),
#      and Docker's built-in macvlan driver on underlay's IPAM;
#   3. docker network connect/disconnect on a running container; two networks on two parents
#      are isolated;
#   4. underlay's daemon killed (SIGKILL) and restarted while containers run: disconnect and rm
#      still work, no address held is handed out again; dockerd restarted: networks and
#      containers come back;
#   5. bad input through the docker CLI gets underlay's message and changes nothing;
#   6. socket activation (systemd's protocol) and the sockets' permissions;
#   7. the managed plugin (packaging/docker-plugin): `docker plugin create` and `enable`, a
#      container on its network driver and IPAM driver, state in the directory it was given.
#
#   bash tests/docker_plugin.sh [path/to/underlay]     # default: target/debug/underlay
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
UL_BIN=$(realpath "${1:-$ROOT/target/debug/underlay}")
# shellcheck source=tests/docker_lab.sh
source "$ROOT/tests/docker_lab.sh"
# shellcheck source=tests/checks.sh
source "$ROOT/tests/checks.sh"
# A reachable peer may need a moment (neighbour discovery): up to four one-second pings.
pings() { $D exec "$1" ping -c 4 -w 4 -W 1 "$2" 2>&1 | grep -q ' 0% packet loss\|[1-4] packets received'; }
silent() { ! $D exec "$1" ping -c 1 -W 1 "$2" >/dev/null 2>&1; }
run() { $D run -d --name "$@" >/dev/null; }
ulnames() { UL network ls --format json | jq -r .Name | sort | tr '\n' ' '; }
# Wait until underlay learned Docker's name for a network (it asks Docker after CreateNetwork).
learned() { for _ in $(seq 1 50); do UL network inspect "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; return 1; }
pools() { cat $UL_STATE/pools/*/* 2>/dev/null | jq -c '.subnet | {subnet, allocated}' | sort | tr '\n' ' '; }

dk_deps
cleanup() { dk_cleanup; }
if ip netns list | grep -qw $DK_HOST || [ -e $DK_DATA ]; then
  echo "docker: a previous run left $DK_HOST or $DK_DATA; cleaning up first" >&2
  cleanup
fi
trap cleanup EXIT
rm -f "$UL_LOG" "$DK_LOG"
dk_lab_up
dockerd_start
dk_image
underlay_start
HOST0=$(host_view)

echo "== 1. the guide's bridge walkthrough with -d underlay-macvlan"
$D network create -d underlay-macvlan --subnet=172.16.86.0/24 --gateway=172.16.86.1 \
  --aux-address="my-router=172.16.86.2" -o parent=eth0 pub_net >/dev/null
run c1 --net=pub_net --ip=172.16.86.10 $DK_IMAGE sleep 600
run c2 --net=pub_net $DK_IMAGE sleep 600
eq "static --ip" "$(cip c1 pub_net)" 172.16.86.10
eq "dynamic address skips the gateway and the aux address" "$(cip c2 pub_net)" 172.16.86.3
check "the second container pings the first" pings c2 172.16.86.10
check "and the gateway" pings c1 172.16.86.1
link=$(nsenter --net="$(sandbox c1)" ip -d link show eth0)
has "the container's eth0 is a macvlan in bridge mode" "$link" "macvlan mode bridge"
mac=$($D inspect -f '{{(index .NetworkSettings.Networks "pub_net").MacAddress}}' c1)
has "with the MAC Docker reports" "$link" "link/ether $mac"
eq "default route via the gateway" "$(nsenter --net="$(sandbox c1)" ip route show default)" "default via 172.16.86.1 dev eth0 "
check "underlay learns Docker's name" learned pub_net
for _ in $(seq 1 30); do
  [ "$(UL network inspect pub_net | jq -r '[.[0].Containers[].Name] | sort | join(" ")')" = "c1 c2" ] && break
  sleep 0.1
done
inspect=$(UL network inspect pub_net)
eq "underlay network inspect shows both containers" "$(jq -r '[.[0].Containers[] | "\(.Name)=\(.IPv4Address)"] | sort | join(" ")' <<<"$inspect")" "c1=172.16.86.10/24 c2=172.16.86.3/24"
eq "and the MAC" "$(jq -r ".[0].Containers[\"$($D inspect -f '{{.Id}}' c1)\"].MacAddress" <<<"$inspect")" "$mac"
out=$(UL network rm pub_net 2>&1 || true)
has "underlay's CLI leaves Docker's network to Docker" "$out" "is managed by docker: use \`docker network rm\` for it"
$D network create -d underlay-macvlan --subnet=172.16.87.0/24 --gateway=172.16.87.1 \
  --ip-range=172.16.87.128/25 -o parent=eth1 range_net >/dev/null
run r1 --net=range_net $DK_IMAGE sleep 600
eq "--ip-range gives .128 first" "$(cip r1 range_net)" 172.16.87.128
check "and it reaches its gateway" pings r1 172.16.87.1
$D rm -f c1 c2 r1 >/dev/null
$D network rm pub_net range_net >/dev/null
eq "docker network rm: underlay keeps no network" "$(ulnames)" ""
eq "and the host is as before" "$(host_view)" "$HOST0"

echo "== 2. --ipam-driver underlay"
$D network create -d underlay-macvlan --ipam-driver underlay --subnet=172.16.86.0/24 \
  --gateway=172.16.86.1 --ip-range=172.16.86.128/25 --aux-address="my-router=172.16.86.129" \
  -o parent=eth0 ipam_net >/dev/null
ipam=$($D network inspect ipam_net | jq -c '.[0].IPAM | {Driver, Config}')
eq "docker network inspect shows underlay's IPAM config" "$ipam" \
  '{"Driver":"underlay","Config":[{"Subnet":"172.16.86.0/24","IPRange":"172.16.86.128/25","Gateway":"172.16.86.1","AuxiliaryAddresses":{"my-router":"172.16.86.129"}}]}'
run i1 --net=ipam_net --ip=172.16.86.10 $DK_IMAGE sleep 600
run i2 --net=ipam_net $DK_IMAGE sleep 600
run i3 --net=ipam_net $DK_IMAGE sleep 600
eq "static --ip anywhere in the subnet" "$(cip i1 ipam_net)" 172.16.86.10
eq "dynamic from the ip-range, lowest first" "$(cip i2 ipam_net)" 172.16.86.128
eq "the aux address is skipped" "$(cip i3 ipam_net)" 172.16.86.130
check "i3 pings i1" pings i3 172.16.86.10
eq "underlay's pool holds exactly those" "$(pools)" \
  '{"subnet":"172.16.86.0/24","allocated":["172.16.86.1","172.16.86.10","172.16.86.128-172.16.86.130"]} '
check "underlay learns Docker's name" learned ipam_net
eq "underlay network inspect names the IPAM driver" "$(UL network inspect ipam_net | jq -r '.[0].IPAM.Driver')" underlay
$D network create -d macvlan --ipam-driver underlay --subnet=172.16.87.0/24 -o parent=eth1 builtin_net >/dev/null
run b1 --net=builtin_net $DK_IMAGE sleep 600
eq "Docker's own macvlan driver on underlay's IPAM: .1 gateway, .2 container" "$(cip b1 builtin_net)" 172.16.87.2
check "and it reaches the router" pings b1 172.16.87.1
$D rm -f i1 i2 i3 b1 >/dev/null
$D network rm ipam_net builtin_net >/dev/null
eq "every address and pool released" "$(pools)" ""
eq "the host is as before" "$(host_view)" "$HOST0"

echo "== 2b. dual stack, with Docker's IPAM and with underlay's"
$D network create -d underlay-macvlan --ipv6 --subnet=172.16.86.0/24 --gateway=172.16.86.1 \
  --subnet=2001:db8:abc8::/64 --gateway=2001:db8:abc8::1 -o parent=eth0 ds_net >/dev/null
$D network create -d underlay-macvlan --ipam-driver underlay --ipv6 --subnet=172.16.87.0/24 \
  --subnet=2001:db8:abc9::/64 -o parent=eth1 ds_ul >/dev/null
run d1 --net=ds_net $DK_IMAGE sleep 600
run d2 --net=ds_ul $DK_IMAGE sleep 600
eq "an IPv6 address from Docker's IPAM" "$($D inspect -f '{{(index .NetworkSettings.Networks "ds_net").GlobalIPv6Address}}' d1)" 2001:db8:abc8::2
eq "and the IPv6 default route via its gateway" "$(nsenter --net="$(sandbox d1)" ip -6 route show default | cut -d' ' -f1-5)" "default via 2001:db8:abc8::1 dev eth0"
check "d1 reaches the IPv6 router" $D exec d1 ping -6 -c 2 -w 4 2001:db8:abc8::1
eq "underlay's IPAM hands out IPv6 too: the gateway .1, the container .2" \
  "$($D inspect -f '{{range .NetworkSettings.Networks}}{{.IPv6Gateway}} {{.GlobalIPv6Address}}{{end}}' d2)" "2001:db8:abc9::1 2001:db8:abc9::2"
$D rm -f d1 d2 >/dev/null
$D network rm ds_net ds_ul >/dev/null
eq "every pool released" "$(pools)" ""
eq "the host is as before" "$(host_view)" "$HOST0"

echo "== 3. connect and disconnect a running container; two parents, isolated"
$D network create -d underlay-macvlan --subnet=172.16.86.0/24 --gateway=172.16.86.1 -o parent=eth0 net_a >/dev/null
$D network create -d underlay-macvlan --subnet=172.16.87.0/24 --gateway=172.16.87.1 -o parent=eth1 net_b >/dev/null
run a1 --net=net_a $DK_IMAGE sleep 600
run b1 --net=net_b $DK_IMAGE sleep 600
ip_b1=$(cip b1 net_b)
check "a container on net_a cannot reach one on net_b" silent a1 "$ip_b1"
check "nor net_b's router" silent a1 172.16.87.1
check "nor the other way" silent b1 "$(cip a1 net_a)"
$D network connect --ip 172.16.87.50 net_b a1
eq "connected with --ip" "$(cip a1 net_b)" 172.16.87.50
has "a1 has a second interface" "$($D exec a1 ip addr show eth1 2>&1)" "inet 172.16.87.50/24"
check "and reaches b1 through it" pings a1 "$ip_b1"
$D network disconnect net_b a1
eq "disconnected: eth1 is gone" "$($D exec a1 ip link show eth1 >/dev/null 2>&1 && echo present || echo gone)" gone
check "a1 still reaches net_a's router" pings a1 172.16.86.1
learned net_b || true
eq "underlay's record of net_b has b1 only" "$(UL network inspect net_b | jq -r '[.[0].Containers[].IPv4Address] | join(" ")')" "$ip_b1/24"
$D rm -f a1 b1 >/dev/null
$D network rm net_a net_b >/dev/null
eq "the host is as before" "$(host_view)" "$HOST0"

echo "== 4. restarts: underlay's daemon killed, then dockerd"
$D network create -d underlay-macvlan --ipam-driver underlay --subnet=172.16.86.0/24 \
  --gateway=172.16.86.1 -o parent=eth0 keep_net >/dev/null
run k1 --net=keep_net $DK_IMAGE sleep 600
run k2 --net=keep_net $DK_IMAGE sleep 600
run k3 --restart=always --net=keep_net --ip=172.16.86.30 $DK_IMAGE sleep 600
ip_k1=$(cip k1 keep_net); ip_k2=$(cip k2 keep_net)
underlay_stop KILL 2>/dev/null
check "SIGKILL leaves the sockets behind" test -S $UL_PLUGINS/underlay-macvlan.sock
underlay_start --socket-group daemon
eq "a restarted daemon replaces them, mode 0660, group as configured" \
  "$(stat -c '%a %U %G' $UL_PLUGINS/underlay-macvlan.sock $UL_PLUGINS/underlay-ipvlan.sock $UL_PLUGINS/underlay.sock | sort -u)" "660 root daemon"
run k4 --net=keep_net $DK_IMAGE sleep 600
ip_k4=$(cip k4 keep_net)
check "no address held is handed out again ($ip_k4 vs $ip_k1 $ip_k2 .30)" \
  test "$ip_k4" != "$ip_k1" -a "$ip_k4" != "$ip_k2" -a "$ip_k4" != 172.16.86.30
check "k4 reaches k1" pings k4 "$ip_k1"
check "docker network disconnect after the restart" $D network disconnect keep_net k1
check "docker rm after the restart" $D rm -f k1 k2
run k5 --net=keep_net $DK_IMAGE sleep 600
eq "released addresses come back" "$(cip k5 keep_net)" "$ip_k1"
dockerd_stop
dockerd_start
for _ in $(seq 1 50); do [ "$($D inspect -f '{{.State.Running}}' k3 2>/dev/null)" = true ] && break; sleep 0.2; done
eq "dockerd restarted: the --restart=always container is back" "$($D inspect -f '{{.State.Running}}' k3)" true
eq "with its address" "$(cip k3 keep_net)" 172.16.86.30
check "and reaches the router" pings k3 172.16.86.1
eq "the network is still Docker's and underlay's" "$($D network ls --filter name=keep_net -q | wc -l) $(ulnames)" "1 keep_net "
$D rm -f k3 k4 k5 >/dev/null 2>&1 || true
$D network rm keep_net >/dev/null
eq "the host is as before" "$(host_view)" "$HOST0"

echo "== 5. bad input through the docker CLI"
$D network create -d underlay-macvlan --subnet=172.16.86.0/24 -o parent=eth0 taken >/dev/null
# Whether this kernel makes ipvlan links (underlay probes that itself at create).
HAVE_IPVLAN=0
if ip -n $DK_HOST link add ul-probe type ipvlan mode l2 link eth1 2>/dev/null; then
  ip -n $DK_HOST link del ul-probe; HAVE_IPVLAN=1
fi
[ $HAVE_IPVLAN = 0 ] || $D network create -d underlay-ipvlan --subnet=172.16.87.0/24 -o parent=eth1 ipv >/dev/null
learned taken || true; [ $HAVE_IPVLAN = 0 ] || learned ipv || true
before="$(host_view)|$(ulnames)|$(pools)|$($D network ls -q | sort | tr '\n' ' ')"
bad() { # expected message, docker arguments...
  local want=$1; shift
  local out rc=0
  out=$($D "$@" 2>&1) || rc=$?
  if [ $rc -ne 0 ] && [[ $out == *"$want"* ]]; then pass "refused: $want"
  else fail "docker $*: rc=$rc, want '$want' in: $out"; fi
}
bad "requested macvlan mode 'bogus' is not valid, 'bridge' mode is the macvlan driver default" \
  network create -d underlay-macvlan --subnet=172.16.88.0/24 -o parent=eth0 -o macvlan_mode=bogus x1
bad "requested ipvlan mode 'l4' is not valid, 'l2' mode is the ipvlan driver default" \
  network create -d underlay-ipvlan --subnet=172.16.88.0/24 -o parent=eth1 -o ipvlan_mode=l4 x2
bad "-o parent interface was not found on the host: nosuch (a name like eth0.10 makes 802.1Q sub-interface 10 of eth0)" \
  network create -d underlay-macvlan --subnet=172.16.88.0/24 -o parent=nosuch x3
bad "-o parent interface was not found on the host: nosuch" \
  network create -d underlay-macvlan --subnet=172.16.88.0/24 -o parent=nosuch.50 x4
bad "vlan id must be between 1-4094, received: 4095" \
  network create -d underlay-macvlan --subnet=172.16.88.0/24 -o parent=eth0.4095 x5
bad "vlan id must be between 1-4094, received: 0" \
  network create -d underlay-macvlan --subnet=172.16.88.0/24 -o parent=eth0.0 x6
bad "loopback interface is not a valid macvlan parent link" \
  network create -d underlay-macvlan --subnet=172.16.88.0/24 -o parent=lo x7
# The docker CLI itself catches a gateway outside the subnet, before any plugin is asked.
bad "no matching subnet for gateway 10.0.0.1" \
  network create -d underlay-macvlan --subnet=172.16.88.0/24 --gateway=10.0.0.1 -o parent=eth0 x8
bad "no matching subnet for gateway 10.0.0.1" \
  network create -d underlay-macvlan --ipam-driver underlay --subnet=172.16.88.0/24 --gateway=10.0.0.1 -o parent=eth0 x9
bad 'unknown option "foo" for the macvlan driver: valid options are parent, macvlan_mode, mtu' \
  network create -d underlay-macvlan --subnet=172.16.88.0/24 -o parent=eth0 -o foo=bar x10
bad "invalid mtu 9000: it exceeds the MTU 1500 of parent interface eth0" \
  network create -d underlay-macvlan --subnet=172.16.88.0/24 -o parent=eth0 -o mtu=9000 x11
bad "subnet 172.16.86.0/25 overlaps with subnet 172.16.86.0/24 of network taken on the same parent interface eth0" \
  network create -d underlay-macvlan --ipam-driver underlay --subnet=172.16.86.0/25 -o parent=eth0 x12
bad "underlay's IPAM does not pick subnets on a physical network" \
  network create -d underlay-macvlan --ipam-driver underlay -o parent=eth0 x13
if [ $HAVE_IPVLAN = 1 ]; then
  bad "a parent cannot carry macvlan and ipvlan links at once" \
    network create -d underlay-ipvlan --subnet=172.16.89.0/24 -o parent=eth0 x14
  bad "ipvlan interfaces do not support custom mac address assignment" \
    run -d --name x15 --net=ipv --mac-address 02:42:ac:11:00:05 $DK_IMAGE sleep 1
else
  # Refused at create, naming the missing feature, instead of at the first container.
  bad "-d ipvlan: this kernel lacks ipvlan support (CONFIG_IPVLAN / module ipvlan)" \
    network create -d underlay-ipvlan --subnet=172.16.87.0/24 -o parent=eth1 ipv
fi
$D rm -f x15 >/dev/null 2>&1 || true
eq "nothing changed: host, underlay's networks and pools, Docker's networks" \
  "$(host_view)|$(ulnames)|$(pools)|$($D network ls -q | sort | tr '\n' ' ')" "$before"
$D network rm taken >/dev/null; [ $HAVE_IPVLAN = 0 ] || $D network rm ipv >/dev/null

echo "== 6. socket activation"
underlay_stop
check "a stopped daemon removes its sockets" test ! -e $UL_PLUGINS/underlay-macvlan.sock
command -v systemd-socket-activate >/dev/null || {
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends systemd >/dev/null; }
"${HNX[@]}" setsid systemd-socket-activate -l $UL_PLUGINS/underlay-macvlan.sock \
  -l $UL_PLUGINS/underlay-ipvlan.sock -l $UL_PLUGINS/underlay.sock \
  env UNDERLAY_STATE_DIR=$UL_STATE "$UL_BIN" daemon --docker-host unix://$DK_SOCK \
  --log-target stderr >>"$UL_LOG" 2>&1 </dev/null &
UL_PID=$!
for _ in $(seq 1 50); do [ -S $UL_PLUGINS/underlay.sock ] && break; sleep 0.05; done
stat -c %i $UL_PLUGINS/underlay*.sock >> $DK_EXEC/ul-sockets
$D network create -d underlay-macvlan --ipam-driver underlay --subnet=172.16.86.0/24 \
  --gateway=172.16.86.1 -o parent=eth0 act_net >/dev/null
run s1 --net=act_net $DK_IMAGE sleep 600
eq "the first call starts the daemon on systemd's sockets" "$(cip s1 act_net)" 172.16.86.2
check "and the container works" pings s1 172.16.86.1
$D rm -f s1 >/dev/null
$D network rm act_net >/dev/null
underlay_stop
eq "the host is as before" "$(host_view)" "$HOST0"

echo "== 7. the managed plugin"
PLUGIN=ul-dk/underlay:latest
PLUGIN_DIR=$DK_EXEC/plugin
PLUGIN_STATE=$DK_DATA/plugin-state
bash "$ROOT/packaging/docker-plugin/build.sh" "$PLUGIN_DIR" >/dev/null 2>&1
$D plugin create $PLUGIN "$PLUGIN_DIR" >/dev/null
mkdir -p $PLUGIN_STATE
$D plugin set $PLUGIN state.source=$PLUGIN_STATE
$D plugin enable $PLUGIN >/dev/null
$D network create -d $PLUGIN --ipam-driver $PLUGIN --subnet=172.16.86.0/24 \
  --gateway=172.16.86.1 -o parent=eth0 plugin_net >/dev/null
run p1 --net=plugin_net $DK_IMAGE sleep 600
eq "a container on the managed plugin's drivers" "$(cip p1 plugin_net)" 172.16.86.2
check "reaches the router" pings p1 172.16.86.1
eq "its state is in the directory given" \
  "$(HN env UNDERLAY_STATE_DIR=$PLUGIN_STATE "$UL_BIN" network ls --format json | jq -r .Driver)" macvlan
$D rm -f p1 >/dev/null
$D network rm plugin_net >/dev/null
$D plugin disable $PLUGIN >/dev/null
$D plugin rm $PLUGIN >/dev/null
eq "the host is as before" "$(host_view)" "$HOST0"

if [ $FAILS -gt 0 ]; then
  echo "docker: $FAILS checks failed; underlay's log: $UL_LOG, dockerd's: $DK_LOG"
  exit 1
fi
echo "docker: all checks passed"
