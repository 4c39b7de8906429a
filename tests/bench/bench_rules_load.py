"""Rules loading time: the four upstream Falco rules files loaded together (read, collect, compile).

Each run is a fresh ``load_rules`` in this process (field tables and imports warm after the first run, as in
a long-running engine reloading rules). Prints the best and median of N runs and the per-stage split of
one run. Target: median <= 300 ms.
Usage: python tests/bench/bench_rules_load.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from engine.rules import load_rules
from engine.rules.collector import Collector
from engine.rules.compiler import Compiler
from engine.rules.decode import Decoder, Requirements
from engine.rules.findings import FindingSink, LoadError
from engine.rules.loader import _all_evttypes
from engine.rules.reader import RawItem, read_items

FILES = [
    "falco_rules.yaml",
    "falco-incubating_rules.yaml",
    "falco-sandbox_rules.yaml",
    "k8s_audit_rules.yaml",
]
TARGET_MS = 300.0


def stages(paths: list[Path]) -> dict[str, float]:
    """Milliseconds spent reading YAML, collecting, and compiling, for one load."""
    from engine.fields import SOURCES

    sink = FindingSink()
    col = Collector(frozenset(SOURCES), sink)
    decoder = Decoder(col, sink, Requirements())
    t0 = time.perf_counter()
    items = [i for p in paths for i in read_items(str(p), p.read_text())]
    t1 = time.perf_counter()
    for item in items:
        if isinstance(item, RawItem):
            try:
                decoder.item(item)
            except LoadError:
                pass
    t2 = time.perf_counter()
    Compiler(col, sink, all_evttypes=_all_evttypes()).compile()
    t3 = time.perf_counter()
    return {"read": (t1 - t0) * 1e3, "collect": (t2 - t1) * 1e3, "compile": (t3 - t2) * 1e3}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    shared = Path(os.environ.get("FALCOPY_SHARED") or REPO.parent / "shared")
    paths = [shared / "upstream" / "rules" / f for f in FILES]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        print(f"upstream rules not found: {', '.join(missing)} (set FALCOPY_SHARED)", file=sys.stderr)
        return 2
    times: list[float] = []
    result = None
    for _ in range(args.runs):
        start = time.perf_counter()
        result = load_rules(paths)
        times.append((time.perf_counter() - start) * 1e3)
    assert result is not None
    if not result.successful:
        print(f"load failed: {[f.to_text('error') for f in result.errors][:3]}", file=sys.stderr)
        return 1
    median = statistics.median(times)
    print(
        f"rules load, 4 upstream files, {len(result.ruleset.rules)} rules: first {times[0]:.1f} ms, "
        f"best {min(times):.1f} ms, median {median:.1f} ms over {args.runs} runs (target <= {TARGET_MS:.0f} ms)"
    )
    split = stages(paths)
    print("one load by stage: " + ", ".join(f"{k} {v:.1f} ms" for k, v in split.items()))
    return 0 if median <= TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
