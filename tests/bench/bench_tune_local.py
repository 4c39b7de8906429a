"""Benchmark: ``falcoctl-py tune --local --duration 20`` end to end (target: under 40 s on 2 cores), its own
sampling cost (target: under 1 % of a core) and the agreement of the engine's CPU with its cgroup (±15 %)."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "falcoctl_py.cli.main", "tune", "--local", "--duration", "20",
                               "--out", str(out), "-o", "json"], capture_output=True, text=True, check=False)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            print(proc.stderr[-2000:])
            return 1
        doc = json.loads(proc.stdout)
    acc = doc.get("accuracy") or {}
    rates = doc["events_per_second"]
    cost = doc["cost_model"]["cpu_seconds_per_1k_events"]
    print(f"tune --local --duration 20: {wall:.1f} s wall (target < 40 s)")
    print("  events/s fed: " + ", ".join(f"{s} {r:,.0f}" for s, r in sorted(rates.items())))
    print(f"  tuner sampling: {doc['tuner_overhead']['fraction_of_core']:.2%} of a core (target < 1%)")
    if acc:
        print(f"  engine CPU {acc['engine_cpu_seconds']:.2f} s vs {acc['method']} {acc['independent_cpu_seconds']:.2f} s"
              f" ({acc['relative_error']:+.1%}, target ±15%)")
    for source, e in sorted(cost.items()):
        print(f"  cost {source}: {e['value'] * 1000:.1f} ms CPU per 1k events ± {e['spread'] * 1000:.1f}"
              f"{' (estimate)' if e['estimate'] else ''}")
    ver = doc["verification"]
    print(f"  alerts {ver['alerts_before']} -> {ver['alerts_after']} ({ver['reduction']:.1%} fewer), "
          f"guard detections {doc['guard']['detections_before']} -> {doc['guard']['detections_after']}")
    ok = wall < 40 and doc["tuner_overhead"]["fraction_of_core"] < 0.01 and (
        not acc or abs(acc["relative_error"]) <= 0.15)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
