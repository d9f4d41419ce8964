#!/usr/bin/env bash
# The demo: the Rust tour, then the Python tour (building the extension into .venv).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== Rust tour"
cargo run -q --release -p aiosync --features facade --example tour
echo
echo "== Python tour"
./scripts/venv.sh
.venv/bin/python examples/tour.py
