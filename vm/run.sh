#!/usr/bin/env bash
# Real-kernel test bed: boots Debian's stock kernel (which has ipvlan, 802.1Q and dummy links)
# in QEMU with a small initramfs holding a static `underlay`, iproute2, busybox and the tests in
# vm/tests/, runs every test in one boot, and exits with their result.
#
#   bash vm/run.sh              # all tests
#   bash vm/run.sh trunk ipvlan # only tests whose file name contains one of the words
#
# The kernel package is fetched with `apt-get download` and unpacked into a cache
# ($UNDERLAY_VM_CACHE, default /var/cache/underlay-vm); nothing is installed into /boot or
# /lib/modules. KVM is used where it is a real one; otherwise (e.g. nested kvm-pvm) TCG.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
CACHE=${UNDERLAY_VM_CACHE:-/var/cache/underlay-vm}
TIMEOUT=${UNDERLAY_VM_TIMEOUT:-1500}
ACCEL=${UNDERLAY_VM_ACCEL:-auto}
mkdir -p "$CACHE"

# ------------------------------------------------------------------ host tools
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
# The initramfs needs a static busybox (Debian's plain busybox package is dynamic).
if ! { [ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1; }; then need+=(busybox-static); fi
command -v depmod >/dev/null || need+=(kmod)
command -v cpio >/dev/null || need+=(cpio)
command -v ip >/dev/null || need+=(iproute2)
[ -x /usr/lib/cni/ipvlan ] || need+=(containernetworking-plugins)
# Docker's engine, for vm/tests/docker_macvlan.sh (Docker's own macvlan scenarios).
for c in dockerd containerd runc; do command -v $c >/dev/null || need+=(docker.io containerd runc); done
if ((${#need[@]})); then
  echo "vm: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# ------------------------------------------------------------------ kernel
PKG=${UNDERLAY_VM_KERNEL:-$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')}
if [ -z "$PKG" ]; then
  apt-get update -qq
  PKG=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
fi
KVER=${PKG#linux-image-}
KROOT=$CACHE/$KVER
if [ ! -f "$KROOT/boot/vmlinuz-$KVER" ]; then
  echo "vm: fetching $PKG" >&2
  (cd "$CACHE" && rm -f "${PKG}"_*.deb && apt-get download "$PKG" 2>&1 | grep -v 'unsandboxed' || true)
  rm -rf "$KROOT"
  dpkg-deb -x "$CACHE/${PKG}"_*.deb "$KROOT"
  depmod -b "$KROOT" "$KVER"   # the package ships no modules.dep
  rm -f "$CACHE/${PKG}"_*.deb
fi
MODDIR=$KROOT/lib/modules/$KVER

# ------------------------------------------------------------------ static underlay
echo "vm: building a static underlay" >&2
BIN=$(bash "$ROOT/scripts/build-static.sh")
# Calls the Docker plugin as Docker would: the VM has no Docker engine.
CALL=$(bash "$ROOT/scripts/build-static.sh" --example plugin_call underlay-docker)

# ------------------------------------------------------------------ initramfs
IR=$(mktemp -d /tmp/underlay-vm.XXXXXX)
trap 'rm -rf "$IR"' EXIT
mkdir -p "$IR"/{bin,sbin,etc,proc,sys,dev,run,tmp,lib/modules,lib64,usr/sbin,tests}
cp /bin/busybox "$IR/bin/busybox"
for a in $(/bin/busybox --list); do [ -e "$IR/bin/$a" ] || ln -s busybox "$IR/bin/$a"; done
copy_bin() { # binary and, if dynamic, its libraries
  cp -L "$1" "$2"
  { ldd "$1" 2>/dev/null | grep -oE '/[^ ]+' || true; } | while read -r lib; do
    mkdir -p "$IR$(dirname "$lib")"; cp -Ln "$lib" "$IR$lib" 2>/dev/null || true
  done
}
copy_bin "$(command -v ip)" "$IR/usr/sbin/ip"   # iproute2: busybox's ip cannot make vlan/ipvlan
cp "$BIN" "$IR/bin/underlay"
cp "$CALL" "$IR/bin/plugin_call"
# The CNI reference plugins, to compare the CNI plugin with where this kernel falls short.
mkdir -p "$IR/usr/lib/cni"
for p in ipvlan macvlan host-local; do
  if [ -x "/usr/lib/cni/$p" ]; then copy_bin "/usr/lib/cni/$p" "$IR/usr/lib/cni/$p"; fi
done
order=()
add_mod() {
  local m=$1 d x
  for x in "${order[@]:-}"; do [ "$x" = "$m" ] && return; done
  for d in $(grep -E "^$m:" "$MODDIR/modules.dep" | cut -d: -f2-); do add_mod "$d"; done
  order+=("$m")
}
for w in 8021q ipvlan macvlan dummy veth; do
  p=$(grep -E "(^|/)$w\.ko(\.[gx]z|\.zst)?:" "$MODDIR/modules.dep" | cut -d: -f1 | head -1)
  [ -n "$p" ] || { echo "vm: module $w not found in $KVER" >&2; exit 1; }
  add_mod "$p"
done
for m in "${order[@]}"; do cp "$MODDIR/$m" "$IR/lib/modules/"; basename "$m" >> "$IR/modules.list"; done
cp "$HERE/lib.sh" "$IR/lib.sh"
selected=0
for t in "$HERE"/tests/*.sh; do
  name=$(basename "$t" .sh)
  if (($#)); then
    keep=0; for w in "$@"; do [[ $name == *"$w"* ]] && keep=1; done
    ((keep)) || continue
  fi
  cp "$t" "$IR/tests/"; selected=$((selected + 1))
done
((selected)) || { echo "vm: no test matches $*" >&2; exit 1; }
MEM=1024
if [ -e "$IR/tests/docker_macvlan.sh" ]; then
  # Debian's Docker engine and a static busybox image for it (imported in the VM).
  for c in dockerd containerd containerd-shim-runc-v2 runc; do copy_bin "$(command -v $c)" "$IR/usr/sbin/$c"; done
  copy_bin /usr/bin/docker "$IR/usr/sbin/docker"
  img=$(mktemp -d /tmp/underlay-vm-img.XXXXXX)
  mkdir -p "$img"/bin "$img"/etc "$img"/proc "$img"/sys "$img"/dev "$img"/tmp
  cp /bin/busybox "$img/bin/busybox"
  for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$img/bin/$a"; done
  echo "root:x:0:0:root:/:/bin/sh" > "$img/etc/passwd"
  tar -C "$img" -cf "$IR/busybox-image.tar" .
  rm -rf "$img"
  MEM=2048   # the engine's binaries unpacked in the initramfs, and its containers
fi
cp "$HERE/init" "$IR/init"; chmod 755 "$IR/init"
INITRD=$CACHE/initrd.cpio.gz
(cd "$IR" && find . | cpio -o -H newc --quiet | gzip -1 > "$INITRD")

# ------------------------------------------------------------------ boot
accel=(-accel tcg,thread=multi -cpu max)  # -cpu max: RDRAND, so the guest's entropy pool (getrandom) is ready at boot
# /dev/kvm on these machines is kvm-pvm (nested, no VMX): it cannot boot a stock kernel.
if [ "$ACCEL" = kvm ] || { [ "$ACCEL" = auto ] && [ -w /dev/kvm ] && [ ! -d /sys/module/kvm_pvm ]; }; then
  accel=(-enable-kvm -cpu host)
fi
LOG=$CACHE/console.log
echo "vm: booting $KVER (${accel[*]}), $selected test file(s)" >&2
t0=$(date +%s)
timeout "$TIMEOUT" qemu-system-x86_64 "${accel[@]}" -m "$MEM" -smp 2 -nographic -no-reboot \
  -nic none -kernel "$KROOT/boot/vmlinuz-$KVER" -initrd "$INITRD" \
  -append "console=ttyS0 quiet panic=-1 rdinit=/init UL_SCALE_N=${UL_SCALE_N:-4094}" > "$LOG" 2>&1 || true
t1=$(date +%s)
tr -d '\r' < "$LOG" | sed -n '/^UL-/p;/^  /p;/Kernel panic/p'
echo "vm: ${accel[*]}, $((t1 - t0)) s, console log $LOG"
line=$(tr -d '\r' < "$LOG" | grep -E '^UL-VM-RESULT ' | tail -1 || true)
[ -n "$line" ] || { echo "vm: the VM did not report a result (timeout or crash)" >&2; tail -30 "$LOG" >&2; exit 1; }
passed=$(sed -E 's/.*passed=([0-9]+).*/\1/' <<<"$line")
failed=$(sed -E 's/.*failed=([0-9]+).*/\1/' <<<"$line")
echo "vm: $passed passed, $failed failed"
[ "$failed" = 0 ] && [ "$passed" -gt 0 ]
