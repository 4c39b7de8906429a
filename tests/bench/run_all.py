"""Run every ``tests/bench/bench_*.py`` in its own Python process and print its output (``make bench``).

Each benchmark is a script that prints its own numbers; one process each keeps their memory and warm caches
apart. Exit status is non-zero when any benchmark fails.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent


def main(argv: list[str]) -> int:
    wanted = set(argv)
    scripts = sorted(p for p in HERE.glob("bench_*.py") if not wanted or p.stem in wanted or p.name in wanted)
    failed = []
    for script in scripts:
        print(f"=== {script.name}", flush=True)
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, str(script)], cwd=REPO, check=False)
        print(f"=== {script.name}: exit {proc.returncode} in {time.perf_counter() - start:.1f}s\n", flush=True)
        if proc.returncode != 0:
            failed.append(script.name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
