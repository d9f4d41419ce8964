"""Server time of two versions of the gate scripts, side by side in one run.

    git show HEAD~1:crates/aiosync-redis/src/scripts.rs > /tmp/old.rs
    python benches/redis_scripts_ab.py --url redis://127.0.0.1:6379/ /tmp/old.rs \
        crates/aiosync-redis/src/scripts.rs

Runs uncontended acquire+release pairs of each version's scripts, alternating batches
of 100 pairs so that the machine's drift weighs on both alike, and prints the time the
server spent in the two scripts per pair (INFO commandstats, reset before each batch):
the median over batches, their mean and range. A version's keys are read from the
`KEYS:` line of its acquire script's doc comment, so versions with different key
layouts compare. The server should be one nobody else uses: the run flushes it.
"""

from __future__ import annotations

import argparse
import re
import statistics
from dataclasses import dataclass
from pathlib import Path

import redis


@dataclass
class Version:
    tag: str
    acquire: str
    release: str
    keys: list[str]


def load(r: redis.Redis, path: Path, tag: str) -> Version:
    src = path.read_text()

    def const(name: str) -> str:
        m = re.search(rf'const {name}: &str = r#"(.*?)"#;', src, re.S)
        if m is None:
            raise SystemExit(f"{path}: no {name}")
        return m.group(1)

    doc = re.search(r"/// KEYS: (.*?)\.\n/// ARGV: id, weight", src)
    if doc is None:
        raise SystemExit(f"{path}: no KEYS line above the acquire script")
    keys = []
    for name in (k.strip() for k in doc.group(1).split(",")):
        if name == "maxlease":
            keys.append(f"ab{tag}:maxlease")
        else:
            suffix = "w:" if name == "waiter prefix" else name
            keys.append(f"ab{tag}:lock:{{x}}:{suffix}")
    common = const("GATE_COMMON")
    return Version(
        tag=f"{tag} {path.name}",
        acquire=r.script_load(common + "\n" + const("GATE_ACQUIRE")),
        release=r.script_load(common + "\n" + const("GATE_RELEASE")),
        keys=keys,
    )


def pair(r: redis.Redis, v: Version, i: int) -> None:
    wid = f"c1-{i}"
    got = r.evalsha(v.acquire, len(v.keys), *v.keys, wid, 1, 1, 10000, 1, "w:", 0, 10000, 1)
    assert got[0] > 0, f"{v.tag}: acquire answered {got}"
    done = r.evalsha(v.release, len(v.keys), *v.keys, wid, 1, 10000, "w:", 0, 0, 10000)
    assert done == 1, f"{v.tag}: release answered {done}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", default="redis://127.0.0.1:6379/")
    ap.add_argument("--batches", type=int, default=40)
    ap.add_argument("a", type=Path)
    ap.add_argument("b", type=Path)
    args = ap.parse_args()
    r = redis.Redis.from_url(args.url)
    r.flushall()
    versions = [load(r, args.a, "a"), load(r, args.b, "b")]
    i = 0
    for v in versions:  # warm up
        for _ in range(300):
            i += 1
            pair(r, v, i)
    per_pair: dict[str, list[float]] = {v.tag: [] for v in versions}
    for _ in range(args.batches):
        for v in versions:
            r.config_resetstat()
            for _ in range(100):
                i += 1
                pair(r, v, i)
            st = r.info("commandstats")["cmdstat_evalsha"]
            assert st["calls"] == 200, st
            per_pair[v.tag].append(st["usec"] / 100)
    print("| version | server µs per acquire+release: median of batches | mean | range |")
    print("|---|---:|---:|---|")
    for v in versions:
        d = sorted(per_pair[v.tag])
        print(
            f"| {v.tag} | {statistics.median(d):.1f} | {statistics.mean(d):.1f}"
            f" | {d[0]:.1f}–{d[-1]:.1f} |"
        )


if __name__ == "__main__":
    main()
