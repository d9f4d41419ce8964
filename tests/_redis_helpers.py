"""A real redis-server for the aiosync.redis tests: 127.0.0.1, a free port, a temporary
directory, no persistence; a missing redis-server fails the test (never a skip)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def redis_server(tmp_path) -> Iterator[str]:
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.fail(
            "redis-server is not on PATH: these tests need a real Redis server "
            "(Debian: apt-get install -y redis-server, or run scripts/test.sh)"
        )
    port = _free_port()
    proc = subprocess.Popen(
        [exe, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(tmp_path)]
        + ["--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        start = time.monotonic()
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert proc.poll() is None, "redis-server exited at start"
                assert time.monotonic() - start < 10, "redis-server did not start"
                time.sleep(0.02)
        yield f"redis://127.0.0.1:{port}/"
    finally:
        proc.kill()
        proc.wait()
