#!/usr/bin/env bash
# Builds underlay and replays the Docker macvlan guide's bridge walkthrough in a throwaway lab
# of network namespaces (needs root; touches nothing outside the lab).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cargo build --release --quiet
exec target/release/underlay demo
