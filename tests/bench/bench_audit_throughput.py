"""k8s audit throughput: the engine (decode + all upstream k8s audit rules + alerts) vs plain ``orjson.loads``.

Three generated stream mixes (``engine.testing.audit_mixes``): ``default`` (a busy cluster, ~785 B per event),
``bodies`` (RequestResponse-heavy, ~2.9 KB per event, object bodies on pods, secrets, configmaps and RBAC) and
``alerts`` (well over 15 % of events raise an alert). Each runs the engine and orjson over the same lines in this
one process, so the ratio ``engine events/s / orjson events/s`` is comparable across machines. Target: ratio >= 0.8
on each mix. The ratio is the median over many short rounds, each timing orjson and then the engine on the same
2,000 lines back to back, so both sides of a round see the same machine load (a shared machine's bursts spoil a
few rounds, not the figure); the quartiles show the spread. The rates are the best of whole passes over all the
lines. The engine side takes the path the audit-log file source and the replay take: each batch of lines handed to
``Engine.process_batch`` as a ``decode_stream`` (one typed pass for the checks, the index key and the common
fields; a raw part such as ``requestObject`` parsed only when a field inside it is read, the whole event only for
``jevt.obj`` and other untyped paths). The webhook hands over its request batches (up to 400 events) the same
way, decoded beforehand in its request threads. Also printed per mix: the share of events decoded whole and of
those that parsed a raw part only, the alert share, and the engine with no rule index (every rule on every event, as Falco runs audit
rules). The last line gives the three ratios. The exit status does not depend on the ratios (a shared machine's
load moves them); read the figures.
Usage: python tests/bench/bench_audit_throughput.py [--mix default|bodies|alerts ...] [--events N] [--seed S]
       [--repeats N] [--rules FILE ...]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from engine.events.k8s_audit import DecodedEvent
from engine.rules import load_rules
from engine.runtime import Engine
from engine.sources.k8s_audit.decode import decode_stream
from engine.testing.audit_mixes import MIXES, mix_lines

BATCH = 400  # lines per batch: the kube-apiserver webhook backend's largest batch
TARGET = 0.8


def default_rules() -> list[Path]:
    shared = Path(os.environ.get("FALCOPY_SHARED") or REPO.parent / "shared")
    return [shared / "upstream" / "rules" / "k8s_audit_rules.yaml"]


def parse_only(lines: list[bytes]) -> None:
    for line in lines:
        orjson.loads(line)


def through(engine: Engine, lines: list[bytes], alerts: Counter[str] | None = None) -> None:
    """``lines`` through the engine as the file source and the replay hand them over: ``BATCH`` at a time."""
    process_batch = engine.process_batch
    for i in range(0, len(lines), BATCH):
        got = process_batch(decode_stream(lines[i:i + BATCH]))  # a rejected line would raise
        if alerts is not None:
            alerts.update(alert.rule for alert in got)


def timed(fn: Callable[..., None], *args: Any) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def paired_ratios(lines: list[bytes], engine: Engine, *, rounds: int, chunk: int = 2000) -> list[float]:
    """``orjson time / engine time`` of each (round, chunk): the two timed back to back on the same lines."""
    chunks = [lines[i:i + chunk] for i in range(0, len(lines), chunk)]
    return [timed(parse_only, part) / timed(through, engine, part) for _ in range(rounds) for part in chunks]


def run_mix(mix: str, args: argparse.Namespace, engine: Engine, engine_unindexed: Engine) -> float:
    """Print one mix's figures; return its ratio (the median of the paired rounds)."""
    lines = mix_lines(args.events, seed=args.seed, mix=mix)
    size = sum(map(len, lines)) / len(lines)
    alerts: Counter[str] = Counter()
    # Interleaved, best of N: all sides see the same machine load (shared CI machines are noisy).
    t_plain = t_engine = t_unindexed = float("inf")
    for _ in range(args.repeats):
        t_plain = min(t_plain, timed(parse_only, lines))
        t_engine = min(t_engine, timed(through, engine, lines, alerts))
        t_unindexed = min(t_unindexed, timed(through, engine_unindexed, lines))
    ratios = paired_ratios(lines, engine, rounds=args.repeats + 1)
    n = len(lines)
    seen = [event for i in range(0, n, BATCH) for event in decode_stream(lines[i:i + BATCH])]
    engine.process_batch(seen)
    read_whole = sum(1 for event in seen if type(event) is DecodedEvent)  # decoded whole (read, or at once)
    read_parts = sum(1 for event in seen if type(event) is not DecodedEvent and event._members)
    print(f"--- mix {mix!r}: {n} synthetic audit events, seed {args.seed}, mean {size:.0f} bytes")
    print(f"orjson.loads: {n / t_plain:12,.0f} events/s")
    print(f"engine:       {n / t_engine:12,.0f} events/s  ({t_engine / n * 1e6:.1f} us/event)")
    print(f"  {read_whole} of {n} events ({read_whole / n:.1%}) decoded whole; {read_parts} ({read_parts / n:.1%}) "
          f"parsed a raw part only (requestObject, annotations, ...) for a rule's condition or an alert")
    print(f"unindexed:    {n / t_unindexed:12,.0f} events/s  ({t_unindexed / n * 1e6:.1f} us/event, "
          f"every rule on every event)")
    q1, median, q3 = statistics.quantiles(ratios, n=4)
    print(f"ratio engine/orjson: {median:.3f} (target >= {TARGET}; median of {len(ratios)} paired rounds, "
          f"quartiles {q1:.3f}-{q3:.3f}; best whole passes {t_plain / t_engine:.3f})")
    runs = args.repeats
    per_run = {rule: c // runs for rule, c in alerts.most_common(8)}
    total = sum(alerts.values()) // runs
    print(f"alerts per run: {total} ({total / n:.1%} of events) {per_run}")
    return median


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--rules", type=Path, action="append")
    ap.add_argument("--mix", choices=sorted(MIXES), action="append",
                    help="stream mix to run (repeat for several; default: all three)")
    args = ap.parse_args()
    rules = args.rules or default_rules()
    result = load_rules(rules)
    if not result.successful or result.ruleset is None:
        for e in result.errors:
            print(f"rules error: {e.to_dict()}", file=sys.stderr)
        return 1
    engine = Engine(result.ruleset)
    unindexed = load_rules(rules, indexers={}).ruleset  # Falco's way: every audit rule on every event
    engine_unindexed = Engine(unindexed)
    print(f"rules: {', '.join(p.name for p in rules)} ({len(result.ruleset.rules)} rules)")
    ratios = {mix: run_mix(mix, args, engine, engine_unindexed) for mix in args.mix or ("default", "bodies", "alerts")}
    print("ratios engine/orjson: " + ", ".join(f"{mix} {r:.3f}" for mix, r in ratios.items())
          + f" (target >= {TARGET} on each)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
