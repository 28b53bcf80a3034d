#!/usr/bin/env bash
# Builds the `underlay` that ships: release, statically linked, stripped; prints its path.
# musl where its Rust target can be installed (a process starts in about half the time of a
# glibc one here: glibc's start-up probes the CPU with many cpuid instructions, each a trap in
# a virtual machine, and the CNI plugin and the CLI start a process per call), else glibc's
# static-pie. One file, no shared libraries: it runs as is in the VM test bed, in the managed
# plugin's rootfs and on any x86_64 Linux.
#
# The musl build is not position-independent (like the Go-built CNI reference plugins): a
# static-pie rewrites some 7,400 relocations at every start, each page of them a
# copy-on-write fault (about 30, 3 µs each here), a tenth of a CNI ADD's own time. The price
# is a fixed load address for the program's code (stack, heap and mappings stay randomised).
#
#   scripts/build-static.sh                       # prints the path of the static underlay
#   scripts/build-static.sh --example NAME PKG    # the same kind of build of an example
set -euo pipefail
what=(-p underlay); name=underlay
if [ "${1:-}" = --example ]; then what=(-p "$3" --example "$2"); name=examples/$2; fi
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
musl=x86_64-unknown-linux-musl
if rustup target list --installed 2>/dev/null | grep -qx $musl \
  || rustup target add $musl >/dev/null 2>&1; then
  CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_RUSTFLAGS="-C relocation-model=static" \
    cargo build --release --quiet --target $musl "${what[@]}"
  echo "$ROOT/target/$musl/release/$name"
else
  echo "build-static: the $musl target cannot be installed; building with glibc (static-pie)" >&2
  RUSTFLAGS='-C target-feature=+crt-static' \
    cargo build --release --quiet --target x86_64-unknown-linux-gnu "${what[@]}"
  echo "$ROOT/target/x86_64-unknown-linux-gnu/release/$name"
fi
