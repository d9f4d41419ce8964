#!/usr/bin/env bash
# Runs every test of the project: Rust unit, integration and doc tests, the loom models of
# the kernel (bounded; raise LOOM_MAX_PREEMPTIONS for a deeper search), then builds the
# Python extension into a virtual environment it creates (.venv) and runs the Python tests.
set -euo pipefail
cd "$(dirname "$0")/.."

# The aiosync-redis tests (Rust and Python) start a real redis-server themselves.
if ! command -v redis-server >/dev/null; then
  echo "== installing redis-server (needed by the aiosync-redis tests)"
  if ! { apt-get update -qq && apt-get install -y -qq redis-server; } || ! command -v redis-server >/dev/null; then
    echo "error: redis-server is not on PATH and apt-get could not install it" >&2
    exit 1
  fi
fi

echo "== cargo test (workspace: unit, integration, doc tests)"
# `aiosync/facade`: the blocking facade and `#[aiosync::blocking]` (tests/facade.rs,
# tests/blocking.rs and their doc tests need it).
cargo test --workspace --all-targets --features aiosync/facade
cargo test --workspace --doc --features aiosync/facade

echo "== loom models of the kernel (preemption bound ${LOOM_MAX_PREEMPTIONS:-3})"
RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
  LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-3}" \
  cargo test -p aiosync-loom-tests --release

echo "== Python: build the extension into .venv and run pytest"
./scripts/venv.sh
.venv/bin/python -m pytest -q tests

echo "== Python: type stubs match the extension (mypy.stubtest)"
.venv/bin/python -m mypy.stubtest aiosync
