# A lab for running Debian's Docker engine against underlay's plugin, sourced by
# tests/docker_plugin.sh and bench/docker_attach.sh.
#
# Namespaces: ul-dk-host holds dockerd and `underlay daemon`, with two uplinks standing in for
# NICs: eth0 (a veth whose peer in ul-dk-ext is the router 172.16.86.1 / 2001:db8:abc8::1) and
# eth1 (peer in ul-dk-ext2, router 172.16.87.1). Docker's state is under /var/lib/ul-dk and
# /run/ul-dk, its API on /run/ul-dk.sock; underlay's state in /var/lib/ul-dk-state. The
# plugin sockets go where Docker looks for them, /run/docker/plugins. dockerd runs with
# --iptables=false --bridge=none and through `nsenter --net` (`ip netns exec` hides the cgroup
# mounts from it). The root namespace's interfaces are never touched.

DK_HOST=ul-dk-host
DK_EXT=ul-dk-ext
DK_EXT2=ul-dk-ext2
DK_DATA=/var/lib/ul-dk
DK_EXEC=/run/ul-dk
DK_SOCK=/run/ul-dk.sock
DK_PID=/run/ul-dk.pid
DK_LOG=${DK_LOG:-/tmp/ul-dk-dockerd.log}
UL_STATE=/var/lib/ul-dk-state
UL_LOG=${UL_LOG:-/tmp/ul-dk-underlay.log}
UL_PLUGINS=/run/docker/plugins
DK_IMAGE=ul-dk-bb:latest
export DOCKER_HOST=unix://$DK_SOCK
D=/usr/bin/docker
UL_PID=

dk_deps() {
  local need=()
  for c in dockerd containerd runc; do command -v $c >/dev/null || need+=("$c"); done
  [ -x /usr/bin/docker ] || need+=(docker.io)
  { [ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1; } || need+=(busybox-static)
  command -v jq >/dev/null || need+=(jq)
  if ((${#need[@]})); then
    echo "docker: installing docker.io containerd runc busybox-static jq" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
      docker.io containerd runc busybox-static jq >/dev/null
  fi
}

HN() { nsenter --net=/run/netns/$DK_HOST "$@"; }
# For background jobs: a function run with & is a subshell, and $! would be its pid, not the
# daemon's; this runs nsenter itself (which execs the command, keeping the pid).
HNX=(nsenter --net=/run/netns/$DK_HOST)
UL() { HN env UNDERLAY_STATE_DIR=$UL_STATE "$UL_BIN" "$@"; }

dk_uplink() { # $1 name in the host ns, $2 namespace of the peer, $3 veth prefix, $4.. peer addresses
  local name=$1 peer_ns=$2 tmp=$3; shift 3
  ip link add "${tmp}a" type veth peer name "${tmp}b"
  ip link set "${tmp}a" netns $DK_HOST
  ip link set "${tmp}b" netns "$peer_ns"
  ip -n $DK_HOST link set "${tmp}a" name "$name"
  ip -n $DK_HOST link set "$name" up
  ip -n "$peer_ns" link set "${tmp}b" name uplink
  ip -n "$peer_ns" link set uplink up
  for a in "$@"; do
    case $a in *:*) ip -n "$peer_ns" addr add "$a" dev uplink nodad ;; *) ip -n "$peer_ns" addr add "$a" dev uplink ;; esac
  done
}

dk_lab_up() {
  for ns in $DK_HOST $DK_EXT $DK_EXT2; do ip netns add $ns; ip -n $ns link set lo up; done
  dk_uplink eth0 $DK_EXT uldk0 172.16.86.1/24 2001:db8:abc8::1/64
  dk_uplink eth1 $DK_EXT2 uldk1 172.16.87.1/24
  mkdir -p $DK_DATA $DK_EXEC $UL_STATE
}

dockerd_start() {
  rm -f $DK_SOCK
  "${HNX[@]}" setsid dockerd --data-root $DK_DATA --exec-root $DK_EXEC -H unix://$DK_SOCK \
    --pidfile $DK_PID --iptables=false --ip6tables=false --ip-masq=false --bridge=none \
    --userland-proxy=false >>"$DK_LOG" 2>&1 </dev/null &
  local pid=$!
  for _ in $(seq 1 300); do
    $D info >/dev/null 2>&1 && return 0
    kill -0 $pid 2>/dev/null || { echo "dockerd died:"; grep -v grpc "$DK_LOG" | tail -5; return 1; }
    sleep 0.1
  done
  echo "dockerd did not come up in 30 s"; return 1
}

dockerd_stop() {
  [ -f $DK_PID ] || return 0
  local pid; pid=$(cat $DK_PID)
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  # The managed containerd goes with dockerd; wait for its pid file to go too.
  for _ in $(seq 1 50); do [ -e $DK_PID ] || break; sleep 0.1; done
}

underlay_start() { # extra daemon flags
  local before; before=$(grep -c "ready in" "$UL_LOG" 2>/dev/null || true)
  "${HNX[@]}" setsid env UNDERLAY_STATE_DIR=$UL_STATE "$UL_BIN" daemon --docker-host unix://$DK_SOCK \
    --log-level "${UL_LOG_LEVEL:-debug}" --log-target stderr "$@" >>"$UL_LOG" 2>&1 </dev/null &
  UL_PID=$!
  for _ in $(seq 1 100); do
    if [ "$(grep -c "ready in" "$UL_LOG" 2>/dev/null)" -gt "${before:-0}" ]; then
      # The sockets this lab's daemons made, so cleanup removes only those.
      stat -c %i $UL_PLUGINS/underlay*.sock >> $DK_EXEC/ul-sockets 2>/dev/null
      return 0
    fi
    kill -0 $UL_PID 2>/dev/null || { echo "underlay daemon died:"; tail -5 "$UL_LOG"; return 1; }
    sleep 0.05
  done
  echo "underlay daemon did not come up"; return 1
}

underlay_stop() { # $1: signal (default TERM)
  [ -n "$UL_PID" ] || return 0
  kill -"${1:-TERM}" "$UL_PID" 2>/dev/null || true
  # Reaps it when it is this shell's child (quietly: no "Killed" notice); else poll.
  { wait "$UL_PID"; } 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$UL_PID" 2>/dev/null || break; sleep 0.05; done
  UL_PID=
}

dk_image() { # a static busybox image
  local r; r=$(mktemp -d /tmp/ul-dk-root.XXXX)
  mkdir -p "$r"/bin "$r"/etc "$r"/proc "$r"/sys "$r"/dev "$r"/tmp
  cp /bin/busybox "$r"/bin/busybox
  for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$r/bin/$a"; done
  echo "root:x:0:0:root:/:/bin/sh" > "$r"/etc/passwd
  tar -C "$r" -c . | $D import -c 'CMD ["/bin/sh"]' - $DK_IMAGE >/dev/null
  rm -rf "$r"
}

dk_cleanup() {
  set +e
  if [ -S $DK_SOCK ] && $D info >/dev/null 2>&1; then
    local ids; ids=$($D ps -aq)
    [ -z "$ids" ] || $D rm -f $ids >/dev/null 2>&1
    for n in $($D network ls -q --filter type=custom); do $D network rm "$n" >/dev/null 2>&1; done
  fi
  dockerd_stop
  underlay_stop
  # A daemon started by an earlier run of this lab (its command line names our state dir).
  # (Also a systemd-socket-activate of this lab still waiting: its arguments name the dir.)
  for pid in $(pgrep -f "underlay daemon|UNDERLAY_STATE_DIR=$UL_STATE" 2>/dev/null); do
    { tr '\0' ' ' < /proc/$pid/environ; tr '\0' ' ' < /proc/$pid/cmdline; } 2>/dev/null \
      | grep -q "UNDERLAY_STATE_DIR=$UL_STATE" && kill "$pid"
  done
  # Sockets left by a daemon of this lab that was killed.
  for s in $UL_PLUGINS/underlay*.sock; do
    [ -S "$s" ] && grep -qx "$(stat -c %i "$s")" $DK_EXEC/ul-sockets 2>/dev/null && rm -f "$s"
  done
  mount | awk '{print $3}' | grep -E "^($DK_DATA|$DK_EXEC)(/|$)" | sort -r | xargs -r -n1 umount -l 2>/dev/null
  rm -rf $DK_DATA $DK_EXEC $DK_SOCK $DK_PID $UL_STATE
  rmdir $UL_PLUGINS /run/docker 2>/dev/null
  for ns in $DK_HOST $DK_EXT $DK_EXT2; do ip netns del $ns 2>/dev/null; done
  return 0
}

# The host side as a user would compare it: links, addresses, routes of ul-dk-host.
host_view() {
  { ip -n $DK_HOST -d -o link show | sed -E 's/^[0-9]+: //; s/ +/ /g' | awk '{print $1, $2}'
    ip -n $DK_HOST -o addr show | awk '{print $2, $3, $4}'
    ip -n $DK_HOST route show table all; } | grep -v 'fe80' | sort
}

# The sandbox namespace file of a container.
sandbox() { $D inspect -f '{{.NetworkSettings.SandboxKey}}' "$1"; }
# Container's IPv4 address on a network.
cip() { $D inspect -f "{{(index .NetworkSettings.Networks \"$2\").IPAddress}}" "$1"; }
