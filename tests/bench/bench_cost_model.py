"""Measure the engine's cost-model terms that can be measured offline and print (or write) a cost-model document.

Measured here: ``cpu_seconds_per_1k_events.k8s_audit`` (process CPU time of decode + all upstream k8s audit rules
+ alert building over a synthetic stream, several rounds: value = mean, spread = standard error),
``memory.base_bytes`` (RSS of this fresh interpreter after the engine's imports and every upstream rules file),
``memory.per_queued_alert_bytes`` (tracemalloc of alerts held in a list, per alert). As root on a kernel with BTF
and the probe built, ``cpu_seconds_per_1k_events.syscall`` is measured live with the ebpf backend (the default of
every profile with a syscall source): process CPU of capture + decode + falco_rules.yaml and
falco-incubating_rules.yaml over an open+exec storm, ``--syscall-rounds`` rounds of ``--syscall-seconds``; and the
BPF maps the probe creates (ring buffer, scratch) are added to ``memory.base_bytes``, since the kernel charges
them to the pod's memory cgroup. Without those the syscall term is copied from the shipped default. The
per-process memory (``bench_syscall.py``) and the per-pod memory (a live cluster) are copied as they are.
``--write FILE`` writes the document after validating it against the cost-model schema.
Usage: python tests/bench/bench_cost_model.py [--events N] [--rounds R] [--syscall-seconds S] [--write FILE]
(run it under the kernel lock: ``flock /tmp/falcopy-kernel.lock ...`` when others share the machine)
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
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))


def rss_bytes() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


STORM = "while :; do cat /etc/hostname > /dev/null; done"  # an exec and an open per iteration


def ebpf_syscall_cost(shared: Path, *, rounds: int, seconds: float) -> tuple[dict[str, object], int] | None:
    """(cost-model entry for the syscall source, bytes of the probe's BPF maps) measured live with the ebpf
    backend, or None when it cannot run here (not root, no BTF, probe not built)."""
    import subprocess
    import threading

    from engine.rules import load_rules
    from engine.runtime import Engine
    from engine.sources.syscall.ebpf.backend import EbpfBackend, missing

    if os.geteuid() != 0 or missing() is not None:
        print(f"syscall cost: ebpf backend unavailable ({missing() if os.geteuid() == 0 else 'not root'}); "
              "default kept", file=sys.stderr)
        return None
    loaded = load_rules([shared / "falco_rules.yaml", shared / "falco-incubating_rules.yaml"])
    if not loaded.successful or loaded.ruleset is None:
        return None
    engine = Engine(loaded.ruleset)
    backend = EbpfBackend(loaded.ruleset.evttypes_needed("syscall"))
    backend.open()
    consumer = threading.Thread(target=backend.run_batches, args=(engine.process_batch,), daemon=True)
    consumer.start()
    per_1k: list[float] = []
    events = 0
    try:
        map_bytes = _probe_map_bytes()
        for _ in range(rounds):
            storm = subprocess.Popen(["sh", "-c", STORM], stdout=subprocess.DEVNULL)
            ev0, cpu0 = backend.stats().events, time.process_time()
            time.sleep(seconds)
            storm.kill()
            storm.wait()
            time.sleep(0.3)  # let the consumer drain the ring
            done = backend.stats().events - ev0
            events += done
            per_1k.append((time.process_time() - cpu0) / max(1, done) * 1000)
        drops = backend.stats().dropped
    finally:
        backend.stop()
        consumer.join(5)
        backend.close()
    spread = statistics.stdev(per_1k) / math.sqrt(len(per_1k)) if len(per_1k) > 1 else 0.0
    rate = events / (rounds * seconds)
    entry: dict[str, object] = {
        "value": round(statistics.mean(per_1k), 5), "spread": round(spread, 5), "samples": len(per_1k),
        "estimate": False,
        "how": f"bench_cost_model: ebpf backend live, process CPU per 1k events over an open+exec storm "
               f"({rate:,.0f} events/s, {drops} dropped), falco_rules.yaml + falco-incubating_rules.yaml, "
               f"{rounds} x {seconds:g} s",
    }
    return entry, map_bytes


def _probe_map_bytes() -> int:
    """Memory of the maps our loaded probe uses (``bpftool``'s ``bytes_memlock``); 0 when bpftool is missing."""
    import shutil
    import subprocess

    if shutil.which("bpftool") is None:
        return 0
    def show(kind: str) -> list[dict[str, Any]]:
        out = subprocess.run(["bpftool", "-j", kind, "show"], capture_output=True, text=True, check=False).stdout
        return list(json.loads(out or "[]"))
    ours = {"on_sys_exit", "on_exec", "on_fork", "on_exit"}
    mine = [p for p in show("prog") if p.get("name") in ours
            and os.getpid() in {int(x.get("pid", 0)) for x in p.get("pids", [{"pid": os.getpid()}])}]
    ids = {i for p in mine for i in p.get("map_ids", [])}
    return sum(int(m.get("bytes_memlock", 0)) for m in show("map") if m.get("id") in ids)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--syscall-rounds", type=int, default=4)
    ap.add_argument("--syscall-seconds", type=float, default=5.0)
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
    live = ebpf_syscall_cost(shared, rounds=args.syscall_rounds, seconds=args.syscall_seconds)
    syscall_cost, map_bytes = live if live is not None else (default["cpu_seconds_per_1k_events"]["syscall"], 0)
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
            "syscall": syscall_cost,
        },
        "memory": {
            "base_bytes": {
                "value": base + map_bytes,
                "spread": 0,
                "samples": 1,
                "estimate": False,
                "how": f"bench_cost_model: RSS after engine imports and {len(every)} upstream rules files "
                f"({len(ruleset_all.rules)} rules)"
                + (f" + {map_bytes} bytes of the ebpf probe's maps (charged to the pod's memory cgroup)"
                   if map_bytes else ""),
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
