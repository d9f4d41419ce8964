"""The README's Python examples run as written and pass `mypy --strict`."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_the_readme_has_python_examples():
    assert len(BLOCKS) >= 2


@pytest.mark.timeout(120)
@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_example_runs(index, tmp_path):
    path = tmp_path / f"example_{index}.py"
    path.write_text(BLOCKS[index], encoding="utf-8")
    r = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


@pytest.mark.timeout(300)
def test_examples_pass_mypy_strict(tmp_path):
    paths = []
    for i, block in enumerate(BLOCKS):
        paths.append(tmp_path / f"example_{i}.py")
        paths[-1].write_text(block, encoding="utf-8")
    r = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=280,
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stdout + r.stderr
