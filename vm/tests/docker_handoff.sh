# Docker's remote network driver on a real kernel, without a Docker engine: plugin_call makes
# the calls dockerd makes, and this script does dockerd's part of a join (move the handed-over
# link into the container, name it, address it, route it as the answer says) and of a leave
# (move it back under its SrcName). Covers what this machine's kernel lacks: an ipvlan l3
# network on an 802.1Q parent made on the fly (on-link default routes, no gateway), a macvlan
# network on another VLAN with its gateway, the daemon killed and restarted in between, and
# the parents removed with the networks.
uplink eth0 "$T-router"
router_vlan "$T-router" 70 192.168.70.1/24
PD=/tmp/plugins-$T
start_daemon() {
  # Not through the ul function: a function run with & is a subshell, and $! would be its pid.
  /bin/underlay daemon --plugin-dir "$PD" --docker-host "" --log-target stderr >> "/tmp/$T-daemon.log" 2>&1 &
  DPID=$!
  local i=0
  while [ ! -S "$PD/underlay.sock" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
}
start_daemon
call() { plugin_call "$PD/$1" "$2" "$3"; }
field() { sed -n "s/.*\"$1\":\"\([^\"]*\)\".*/\1/p"; }
L3=1111111111111111111111111111111111111111111111111111111111111111
MV=2222222222222222222222222222222222222222222222222222222222222222
ok call underlay-ipvlan.sock NetworkDriver.CreateNetwork \
  '{"NetworkID":"'$L3'","Options":{"com.docker.network.generic":{"parent":"eth0.60","ipvlan_mode":"l3"}},
    "IPv4Data":[{"AddressSpace":"LocalDefault","Pool":"192.168.214.0/24"},{"AddressSpace":"LocalDefault","Pool":"10.1.214.0/24"}]}'
has "vlan protocol 802.1Q id 60" ip -d link show eth0.60
ok call underlay-macvlan.sock NetworkDriver.CreateNetwork \
  '{"NetworkID":"'$MV'","Options":{"com.docker.network.generic":{"parent":"eth0.70"}},
    "IPv4Data":[{"AddressSpace":"LocalDefault","Pool":"192.168.70.0/24","Gateway":"192.168.70.1/24"}]}'

# join SOCKET NETWORK ENDPOINT CONTAINER ADDRESS: CreateEndpoint, Join, then dockerd's part.
join() {
  local sock=$1 net=$2 ep=$3 c=$4 addr=$5 j src gw
  call "$sock" NetworkDriver.CreateEndpoint \
    '{"NetworkID":"'$net'","EndpointID":"'$ep'","Interface":{"Address":"'$addr'","AddressIPv6":"","MacAddress":""}}' > "/tmp/$T-$ep.create"
  j=$(call "$sock" NetworkDriver.Join '{"NetworkID":"'$net'","EndpointID":"'$ep'","SandboxKey":"/run/netns/'$c'"}') \
    || { fail "Join $ep: $j"; return; }
  echo "$j" > "/tmp/$T-$ep.join"
  src=$(echo "$j" | field SrcName)
  ip link set "$src" netns "$c"
  ip -n "$c" link set "$src" name eth0
  ip -n "$c" addr add "$addr" dev eth0
  ip -n "$c" link set eth0 up
  gw=$(echo "$j" | field Gateway)
  if [ -n "$gw" ]; then ip -n "$c" route add default via "$gw" dev eth0; fi
  case $j in *'"Destination":"0.0.0.0/0","NextHop":"","RouteType":1'*|*'"Destination":"0.0.0.0/0","RouteType":1'*)
    ip -n "$c" route add default dev eth0 ;; esac
}
# leave SOCKET NETWORK ENDPOINT CONTAINER: dockerd moves the link back, then Leave, DeleteEndpoint.
leave() {
  local sock=$1 net=$2 ep=$3 c=$4 src
  src=$(field SrcName < "/tmp/$T-$ep.join")
  ip -n "$c" link set eth0 down
  ip -n "$c" link set eth0 name "$src"
  ip -n "$c" link set "$src" netns "h-$T"
  ok call "$sock" NetworkDriver.Leave '{"NetworkID":"'$net'","EndpointID":"'$ep'"}'
  ok call "$sock" NetworkDriver.DeleteEndpoint '{"NetworkID":"'$net'","EndpointID":"'$ep'"}'
  hasnt "$src" ip link show
}

a=$(ctr a); b=$(ctr b); m=$(ctr m)
join underlay-ipvlan.sock $L3 ep-a "$a" 192.168.214.10/24
join underlay-ipvlan.sock $L3 ep-b "$b" 10.1.214.10/24
join underlay-macvlan.sock $MV ep-m "$m" 192.168.70.10/24
has '"Gateway":""' cat "/tmp/$T-ep-a.join"
has '"RouteType":1' cat "/tmp/$T-ep-a.join"
has '"Gateway":"192.168.70.1"' cat "/tmp/$T-ep-m.join"
has '"MacAddress":"' cat "/tmp/$T-ep-m.create"
hasnt '"MacAddress"' cat "/tmp/$T-ep-a.create"
has "ipvlan  mode l3 " in_ctr a ip -d link show eth0
has "macvlan mode bridge" in_ctr m ip -d link show eth0
has "default dev eth0" in_ctr a ip route
reach a 10.1.214.10
reach b 192.168.214.10
reach m 192.168.70.1
unreachable m 192.168.214.10

# The daemon dies and comes back: nothing is lost, the containers keep working.
kill -9 $DPID; wait $DPID 2>/dev/null
start_daemon
has "docker-111111111111" ul network ls
reach a 10.1.214.10
leave underlay-ipvlan.sock $L3 ep-a "$a"
leave underlay-ipvlan.sock $L3 ep-b "$b"
leave underlay-macvlan.sock $MV ep-m "$m"
ok call underlay-ipvlan.sock NetworkDriver.DeleteNetwork '{"NetworkID":"'$L3'"}'
ok call underlay-macvlan.sock NetworkDriver.DeleteNetwork '{"NetworkID":"'$MV'"}'
hasnt "eth0.60" ip link show
hasnt "eth0.70" ip link show
hasnt "docker-" ul network ls
# A refusal on this kernel's terms: the mode of an ipvlan parent is the kernel's.
ok call underlay-ipvlan.sock NetworkDriver.CreateNetwork \
  '{"NetworkID":"'$L3'","Options":{"com.docker.network.generic":{"parent":"eth0","ipvlan_mode":"l2"}},"IPv4Data":[{"Pool":"192.168.216.0/24"}]}'
refused "the kernel keeps one ipvlan mode per parent" call underlay-ipvlan.sock NetworkDriver.CreateNetwork \
  '{"NetworkID":"'$MV'","Options":{"com.docker.network.generic":{"parent":"eth0","ipvlan_mode":"l3"}},"IPv4Data":[{"Pool":"192.168.217.0/24"}]}'
ok call underlay-ipvlan.sock NetworkDriver.DeleteNetwork '{"NetworkID":"'$L3'"}'
kill $DPID; wait $DPID 2>/dev/null
hasnt "underlay" ls "$PD"
