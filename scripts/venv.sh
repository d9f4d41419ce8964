#!/usr/bin/env bash
# Creates .venv (if missing) with the build and test tools, and builds the extension into it.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "maturin>=1.9,<2" "pytest>=8" "pytest-timeout>=2.3" "mypy>=1.18" "ruff>=0.6" "typing_extensions>=4.15"
.venv/bin/maturin develop --release -q
