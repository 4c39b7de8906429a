"""Measure the engine's cost-model terms that can be measured offline and print (or write) a cost-model document.

Measured here: ``cpu_seconds_per_1k_events.k8s_audit`` (process CPU time of decode + all upstream k8s audit rules
+ alert building over a synthetic stream, several rounds: value = mean, spread = standard error),
``memory.base_bytes`` (RSS of this fresh interpreter after the engine's imports and every upstream rules file),
``memory.per_queued_alert_bytes`` (tracemalloc of alerts held in a list, per alert). The syscall CPU cost and the
per-process memory need a live kernel (``bench_syscall.py`` measures them) and the per-pod memory a live cluster:
they are copied from the shipped default as they are. ``--write FILE`` writes the document after validating it
against the cost-model schema.
Usage: python tests/bench/bench_cost_model.py [--events N] [--rounds R] [--write FILE]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))


def rss_bytes() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--write", type=Path, default=None)
    args = ap.parse_args()

    from falcoctl_py.cli import engine as engine_cli  # what `falcoctl-py engine run` imports

    try:
        from engine.rules import load_rules
        from engine.runtime import Engine
        from engine.sources.k8s_audit.decode import decode_stream
        from engine.testing.audit_synth import synth_lines
    except ImportError as exc:
        print(f"engine not available yet ({exc}); nothing measured", file=sys.stderr)
        return 1

    shared = Path(os.environ.get("FALCOPY_SHARED") or REPO.parent / "shared") / "upstream" / "rules"
    every = sorted(shared.glob("*.yaml"))
    ruleset_all = engine_cli.load_ruleset(every, rule_matching="first")
    base = rss_bytes()

    result = load_rules([shared / "k8s_audit_rules.yaml"])
    if not result.successful or result.ruleset is None:
        print(f"rules failed to load: {[e.to_dict() for e in result.errors][:3]}", file=sys.stderr)
        return 1
    engine = Engine(result.ruleset)
    lines = synth_lines(args.events, seed=1)
    per_1k: list[float] = []
    held: list[object] = []
    # As the engine takes them: batches of up to 400 lines (the webhook's batch, the file source's chunks).
    batches = [lines[i:i + 400] for i in range(0, len(lines), 400)]

    def every_batch() -> None:
        for batch in batches:
            held.extend(engine.process_batch(decode_stream(batch)))

    for _ in range(args.rounds):
        start = time.process_time()
        every_batch()
        per_1k.append((time.process_time() - start) / len(lines) * 1000)
        held.clear()

    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    every_batch()
    per_alert = (tracemalloc.get_traced_memory()[0] - before) / max(1, len(held))
    tracemalloc.stop()

    default = json.loads((REPO / "falcoctl_py" / "data" / "cost-model.default.json").read_text())
    spread = statistics.stdev(per_1k) / math.sqrt(len(per_1k)) if len(per_1k) > 1 else 0.0
    doc = {
        "schema_version": 1,
        "engine_version": __import__("engine").__version__,
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "method": "benchmark",
        "cpu_seconds_per_1k_events": {
            "k8s_audit": {
                "value": round(statistics.mean(per_1k), 5),
                "spread": round(spread, 5),
                "samples": len(per_1k),
                "estimate": False,
                "how": f"bench_cost_model: process CPU over {len(lines)} synthetic audit events x {args.rounds}, "
                f"upstream k8s_audit_rules.yaml",
            },
            "syscall": default["cpu_seconds_per_1k_events"]["syscall"],
        },
        "memory": {
            "base_bytes": {
                "value": base,
                "spread": 0,
                "samples": 1,
                "estimate": False,
                "how": f"bench_cost_model: RSS after engine imports and {len(every)} upstream rules files "
                f"({len(ruleset_all.rules)} rules)",
            },
            "per_process_bytes": default["memory"]["per_process_bytes"],
            "per_pod_bytes": default["memory"]["per_pod_bytes"],
            "per_queued_alert_bytes": {
                "value": round(per_alert) if held else default["memory"]["per_queued_alert_bytes"]["value"],
                "spread": 0,
                "samples": len(held),
                "estimate": not held,
                "how": f"bench_cost_model: tracemalloc of {len(held)} alerts held in a list"
                if held
                else "no alerts raised by the synthetic stream; default kept",
            },
        },
    }
    from falcoctl_py.cost_model import cost_model_from_dict

    cost_model_from_dict(doc, origin="bench_cost_model")  # refuse to print or write an invalid document
    text = json.dumps(doc, indent=2) + "\n"
    print(text, end="")
    if args.write:
        args.write.write_text(text)
        print(f"wrote {args.write}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
