"""Idle memory of the engine process: RSS after ``engine run``'s imports and all upstream rules files loaded.

Runs in a fresh interpreter (``run_all.py`` gives each benchmark its own), imports exactly what
``falcoctl-py engine run`` imports, loads the four upstream rules files (syscall + k8s audit) and reports the
resident set size before and after loading. Target: <= 80 MB with everything loaded.
Usage: python tests/bench/bench_engine_idle_rss.py [--rules FILE ...]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rules", type=Path, action="append")
    args = ap.parse_args()
    start = rss_mb()
    from falcoctl_py.cli import engine as engine_cli  # what `falcoctl-py engine run` imports
    from falcoctl_py.cli import main as _main  # noqa: F401  (the CLI root)

    imported = rss_mb()
    shared = Path(os.environ.get("FALCOPY_SHARED") or REPO.parent / "shared") / "upstream" / "rules"
    rules = args.rules or sorted(shared.glob("*.yaml"))
    ruleset = engine_cli.load_ruleset(rules, rule_matching="first")
    loaded = rss_mb()
    print(f"rules: {', '.join(p.name for p in rules)} ({len(ruleset.rules)} rules)")
    print(f"RSS interpreter start: {start:6.1f} MB")
    print(f"RSS after imports:     {imported:6.1f} MB")
    print(f"RSS with rules loaded: {loaded:6.1f} MB  (target <= 80 MB)")
    heavy = [m for m in ("kubernetes", "rich", "jsonschema", "falcoctl_py.helm") if m in sys.modules]
    print(f"heavy modules imported: {heavy or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
