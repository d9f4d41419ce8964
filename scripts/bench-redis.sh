#!/usr/bin/env bash
# Runs benches/python_redis_bench.py in its own venv (.venv-bench: pinned redis-py and
# python-redis-lock, plus aiosync built in release mode) against a redis-server of its own
# (127.0.0.1, a free port, a temporary directory, no persistence), which it stops after.
# Arguments go to the bench, e.g. scripts/bench-redis.sh --rounds 5 --only u,h
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/maturin ]; then
  ./scripts/venv.sh # the build tools (maturin) live in the test venv
fi
if [ ! -x .venv-bench/bin/python ]; then
  python3 -m venv .venv-bench
fi
# Pinned, so figures from different days compare the same comparison code.
.venv-bench/bin/python -m pip install -q "redis==8.1.0" "python-redis-lock==4.0.1" >&2
VIRTUAL_ENV="$PWD/.venv-bench" .venv/bin/maturin develop --release -q >&2

tmp=$(mktemp -d)
port=$(.venv-bench/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --bind 127.0.0.1 --port "$port" --dir "$tmp" --save "" --appendonly no \
  --daemonize no --loglevel warning >"$tmp/server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 100); do
  if redis-cli -p "$port" ping >/dev/null 2>&1; then break; fi
  sleep 0.1
done
redis-cli -p "$port" ping >/dev/null
.venv-bench/bin/python benches/python_redis_bench.py --url "redis://127.0.0.1:$port/" "$@"
