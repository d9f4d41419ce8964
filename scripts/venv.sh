#!/usr/bin/env bash
# Creates .venv (if missing) with the build and test tools, and builds the extension into it.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
# Pinned: a new mypy (stubtest) or ruff release must not change what CI checks.
.venv/bin/python -m pip install -q "maturin==1.16.0" "pytest==9.2.0" "pytest-timeout==2.4.0" "mypy==2.4.1" "ruff==0.17.6" "typing_extensions==4.16.0"
.venv/bin/python -m pip install -q "pytest-asyncio==1.5.0"
# synchronicity's own test suite (from its source distribution), which the tests run
# against aiosync.Synchronizer: a download failure stops here, loudly.
if [ ! -d .venv/suites/synchronicity/test ]; then
  rm -rf .venv/suites/tmp && mkdir -p .venv/suites/tmp
  .venv/bin/python -m pip download -q --no-deps --no-binary :all: \
    "synchronicity==0.12.2" -d .venv/suites/tmp
  tar -xzf .venv/suites/tmp/synchronicity-0.12.2.tar.gz -C .venv/suites/tmp
  # Its top-level conftest.py serves the markdown-docs plugin (its README's examples),
  # which is not run here; pytest would refuse its unknown hook.
  rm .venv/suites/tmp/synchronicity-0.12.2/conftest.py
  mv .venv/suites/tmp/synchronicity-0.12.2 .venv/suites/synchronicity
  rm -rf .venv/suites/tmp
fi
.venv/bin/maturin develop --release -q
