#!/usr/bin/env bash
# A real CNI runtime drives underlay: Debian's Podman 4.3 with its CNI backend runs busybox
# containers on a network whose conflist says "type": "underlay". Containers with and without
# --ip/--mac-address (Podman passes them in CNI_ARGS) reach each other and the router;
# `podman rm` releases everything (no link, no address, no network left in underlay's store).
#
#   bash tests/podman_cni.sh [path/to/underlay]     # default: target/debug/underlay
#
# Everything happens in namespaces ul-pod-*, under /run/ul-pod and /var/lib/ul-pod; the
# root namespace's interfaces are never touched. Podman runs through `nsenter --net` (not
# `ip netns exec`, which hides the cgroup mounts from runc).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=$(realpath "${1:-$ROOT/target/debug/underlay}")
BASE=/run/ul-pod
GRAPH=/var/lib/ul-pod
HOSTNS=ul-pod-host
EXTNS=ul-pod-ext
NET=ul-pod-net
IMAGE=localhost/ul-pod-bb:latest
# shellcheck source=tests/checks.sh
source "$ROOT/tests/checks.sh"

need=()
for c in podman conmon runc; do command -v $c >/dev/null || need+=("$c"); done
[ -x /usr/lib/cni/host-local ] || need+=(containernetworking-plugins)
{ [ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1; } || need+=(busybox-static)
if ((${#need[@]})); then
  echo "podman: installing podman runc conmon containernetworking-plugins busybox-static" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
    podman runc conmon containernetworking-plugins busybox-static >/dev/null
fi

P() { nsenter --net=/run/netns/$HOSTNS env CONTAINERS_CONF=$BASE/containers.conf \
  CONTAINERS_STORAGE_CONF=$BASE/storage.conf podman "$@"; }
UL() { nsenter --net=/run/netns/$HOSTNS env UNDERLAY_STATE_DIR=$BASE/state "$BIN" "$@"; }

cleanup() {
  set +e
  if [ -f "$BASE/containers.conf" ] && ip netns list | grep -qw $HOSTNS; then
    P rm -af -t 0 >/dev/null 2>&1
    P rmi -af >/dev/null 2>&1
  fi
  # conmon processes of our containers only: their command line names our runroot.
  for pid in $(pgrep -x conmon); do
    if tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$BASE/run"; then kill "$pid"; fi
  done
  mount | awk '{print $3}' | grep -E "^($GRAPH|$BASE)(/|$)" | sort -r | xargs -r -n1 umount -l 2>/dev/null
  if [ -f "$BASE/netns.before" ]; then
    for f in $(ls /run/netns 2>/dev/null | grep '^netns-'); do
      grep -qx "$f" "$BASE/netns.before" || { umount "/run/netns/$f" 2>/dev/null; rm -f "/run/netns/$f"; }
    done
  fi
  rm -f /var/lib/cni/results/$NET-* 2>/dev/null
  if [ -f "$BASE/created" ]; then
    while read -r p; do
      case "$p" in
        */libpod_parent) [ -d "$p" ] && find "$p" -depth -type d -exec rmdir {} \; 2>/dev/null ;;
        *) rm -rf "$p" ;;
      esac
    done < "$BASE/created"
  fi
  rm -rf "$BASE" "$GRAPH"
  ip netns del $HOSTNS 2>/dev/null
  ip netns del $EXTNS 2>/dev/null
}
if ip netns list | grep -qw $HOSTNS || [ -e "$BASE" ]; then
  echo "podman: a previous run left $BASE or $HOSTNS; cleaning up first" >&2
  cleanup
fi
trap cleanup EXIT
mkdir -p "$BASE"/{net.d,cni-bin,tmp,run,state} "$GRAPH/root"
# Paths podman writes outside our roots that did not exist before: removed afterwards.
for p in /var/lib/cni /var/lib/containers /dev/shm/libpod_lock; do [ -e "$p" ] || echo "$p" >> "$BASE/created"; done
for h in /sys/fs/cgroup/*; do [ ! -d "$h" ] || [ -e "$h/libpod_parent" ] || echo "$h/libpod_parent" >> "$BASE/created"; done
ls /run/netns > "$BASE/netns.before" 2>/dev/null || : > "$BASE/netns.before"

# The lab: uplink in ul-pod-host (the master) leads to a router at 172.16.86.1 in ul-pod-ext.
ip netns add $HOSTNS; ip netns add $EXTNS
ip link add ul-pod0 type veth peer name ul-pod1
ip link set ul-pod0 netns $HOSTNS; ip link set ul-pod1 netns $EXTNS
ip -n $HOSTNS link set ul-pod0 name uplink; ip -n $EXTNS link set ul-pod1 name lan0
ip -n $HOSTNS link set lo up; ip -n $EXTNS link set lo up
ip -n $HOSTNS link set uplink up; ip -n $EXTNS link set lan0 up
ip -n $EXTNS addr add 172.16.86.1/24 dev lan0

cat > "$BASE/containers.conf" <<EOF
[containers]
log_driver = "k8s-file"
# Rootful podman asks for nofile=1048576; without CAP_SYS_RESOURCE runc cannot raise the hard limit.
default_ulimits = ["nofile=$(ulimit -Hn):$(ulimit -Hn)", "nproc=32768:32768"]
[network]
network_backend = "cni"
cni_plugin_dirs = ["$BASE/cni-bin", "/usr/lib/cni"]
network_config_dir = "$BASE/net.d"
default_network = "ul-pod-default"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
tmp_dir = "$BASE/tmp"
lock_type = "file"
EOF
cat > "$BASE/storage.conf" <<EOF
[storage]
driver = "overlay"
runroot = "$BASE/run"
graphroot = "$GRAPH/root"
EOF
cp "$BIN" "$BASE/cni-bin/underlay"
cat > "$BASE/net.d/$NET.conflist" <<EOF
{"cniVersion": "1.0.0", "name": "$NET", "plugins": [{
  "type": "underlay", "master": "uplink", "mode": "bridge", "stateDir": "$BASE/state",
  "ipam": {"type": "underlay",
           "ranges": [[{"subnet": "172.16.86.0/24", "rangeStart": "172.16.86.10",
                        "rangeEnd": "172.16.86.250", "gateway": "172.16.86.1"}]],
           "routes": [{"dst": "0.0.0.0/0"}]}}]}
EOF
# A 2 MB image from the static busybox; no registry needed.
r=$(mktemp -d /tmp/ul-pod-bb.XXXX)
mkdir -p "$r"/{bin,etc,proc,sys,dev,tmp}
cp /bin/busybox "$r/bin/busybox"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$r/bin/$a"; done
echo "root:x:0:0:root:/:/bin/sh" > "$r/etc/passwd"; echo "root:x:0:" > "$r/etc/group"
tar -C "$r" -c . | P import -q -c 'CMD ["/bin/sh"]' - "$IMAGE" >/dev/null
rm -rf "$r"

echo "podman: $(P version --format '{{.Client.Version}}'), backend $(P info --format '{{.Host.NetworkBackend}}')"
# Podman calls VERSION for every conflist and silently drops a network whose plugin fails it.
# (Output is captured before it is matched: with pipefail, `grep -q` closing a pipe early
# would fail the writer.)
nets=$(P network ls --format '{{.Name}} {{.Driver}}')
if grep -q "^$NET underlay" <<<"$nets"; then
  pass "podman lists $NET with driver underlay"
else
  fail "podman does not list $NET: $(P network ls 2>&1)"
fi
ip_of() { P inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$1"; }
P run -d --name ul-a --network $NET "$IMAGE" sleep 600 >/dev/null
P run -d --name ul-b --network $NET "$IMAGE" sleep 600 >/dev/null
P run -d --name ul-s --network $NET --ip 172.16.86.77 --mac-address 02:00:00:00:00:77 "$IMAGE" sleep 600 >/dev/null
a=$(ip_of ul-a); b=$(ip_of ul-b); s=$(ip_of ul-s)
echo "podman: ul-a=$a ul-b=$b ul-s=$s"
[ "$a" = 172.16.86.10 ] && [ "$b" = 172.16.86.11 ] && pass "addresses from rangeStart up" || fail "addresses $a $b"
[ "$s" = 172.16.86.77 ] && pass "--ip reaches underlay" || fail "--ip: got $s"
mac=$(P exec ul-s cat /sys/class/net/eth0/address)
[ "$mac" = 02:00:00:00:00:77 ] && pass "--mac-address reaches underlay" || fail "--mac-address: got $mac"
gw=$(P inspect -f '{{range .NetworkSettings.Networks}}{{.Gateway}}{{end}}' ul-a)
[ "$gw" = 172.16.86.1 ] && pass "podman inspect shows the gateway" || fail "gateway: $gw"
P exec ul-a ping -c 1 -W 2 "$b" >/dev/null && pass "ul-a reaches ul-b" || fail "ul-a cannot reach ul-b"
P exec ul-b ping -c 1 -W 2 "$s" >/dev/null && pass "ul-b reaches ul-s" || fail "ul-b cannot reach ul-s"
P exec ul-s ping -c 1 -W 2 172.16.86.1 >/dev/null && pass "ul-s reaches the router" || fail "ul-s cannot reach the router"
sk=$(P inspect -f '{{.NetworkSettings.SandboxKey}}' ul-a)
link=$(nsenter --net="$sk" ip -d link show eth0)
grep -q "macvlan mode bridge" <<<"$link" && pass "eth0 is a macvlan link in bridge mode" \
  || fail "eth0: $(nsenter --net="$sk" ip -d link show eth0)"
n=$(UL network inspect $NET | grep -c '"EndpointID"' || true)
[ "$n" = 3 ] && pass "underlay network inspect shows the 3 containers" || fail "underlay sees $n endpoints"
inspect=$(UL network inspect $NET)
case $inspect in
  *'"Name": "ul-s"'*) pass "underlay shows podman's container names" ;;
  *) fail "container names: $(grep '"Name"' <<<"$inspect")" ;;
esac
# stop releases the address (DEL); start attaches again (ADD).
P stop -t 0 ul-b >/dev/null
P start ul-b >/dev/null
[ "$(ip_of ul-b)" = "$b" ] && pass "stop/start keeps ul-b at $b" || fail "after start: $(ip_of ul-b)"
P rm -af -t 0 >/dev/null
# A DEL hands the kernel's link deletion to a background process; it is done in moments.
for _ in $(seq 100); do
  n=$(UL network inspect $NET | grep -c '"EndpointID"' || true)
  [ "$n" = 0 ] && break; sleep 0.1
done
[ "$n" = 0 ] && pass "podman rm released every endpoint and address" || fail "underlay still holds $n endpoints"
ok_rm=$(UL network rm $NET 2>&1) && pass "the emptied network can be removed" || fail "network rm: $ok_rm"
links=$(ip -n $HOSTNS -br link | grep -v -E '^(lo|uplink)' || true)
[ -z "$links" ] && pass "no link left on the host" || fail "links left: $links"
echo "podman: $FAILS failure(s)"
[ "$FAILS" = 0 ]
