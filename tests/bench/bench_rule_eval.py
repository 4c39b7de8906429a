"""Rule evaluation cost per syscall event: shared evaluation (one generated function per event type) against
the per-rule path (each candidate's own function), for openat and execve events with 1, 10 and all candidates.

Rules: the upstream stable + incubating files (sandbox too with ``--sandbox``), all matching (``rule_matching:
all``, so every candidate is evaluated) and first matching. Candidates: the first N enabled rules, in order, of
the event type's candidates. Events: seeded openat/execve events built from the rules' own literals
(``tests/syscall_events.py``), so some match and most do not. Both paths run in this one process, interleaved,
and the ratio is what to compare across machines. Target: all candidates, all matching, shared ≤ 0.7× per-rule.
Usage: python tests/bench/bench_rule_eval.py [--events N] [--repeat R] [--sandbox]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from syscall_events import literals, synth_event

from engine.rules import Ruleset, load_rules


def _ns_per_event(ruleset: Ruleset, events: list[Any], repeat: int) -> float:
    evaluate = ruleset.evaluate
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for event in events:
            evaluate(event)
        best = min(best, time.perf_counter() - start)
    return best / len(events) * 1e9


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--sandbox", action="store_true")
    args = parser.parse_args(argv)
    rules_dir = Path(os.environ.get("FALCOPY_SHARED", REPO.parent / "shared")) / "upstream" / "rules"
    names = ["falco_rules.yaml", "falco-incubating_rules.yaml"] + (["falco-sandbox_rules.yaml"] if args.sandbox else [])
    if not (rules_dir / names[0]).exists():
        print(f"upstream rules not found in {rules_dir}; set FALCOPY_SHARED")
        return 1
    ok = True
    print(f"rules: {' + '.join(names)}; {args.events} events per type, best of {args.repeat}")
    print(f"{'matching':<8} {'type':<7} {'cands':>5} {'per-rule ns':>12} {'shared ns':>10} {'ratio':>6} {'matches':>8}")
    for matching in ("all", "first"):
        loaded = load_rules([rules_dir / n for n in names], rule_matching=matching).ruleset
        assert loaded is not None
        lits = literals(r.ast for r in loaded.rules)
        for evt_type in ("openat", "execve"):
            rng = random.Random(13)
            events = [synth_event(rng, lits, evt_type, i + 1) for i in range(args.events)]
            candidates = [r for r in loaded.rules if r.enabled and r.source == "syscall"
                          and (r.evttypes is None or evt_type in r.evttypes)]
            for n in sorted({1, min(10, len(candidates)), len(candidates)}):
                keep = {id(r) for r in candidates[:n]}
                rules = [r for r in loaded.rules if id(r) in keep]
                shared = Ruleset(rules, checksum="", rule_matching=matching)
                shared.prepare()
                per_rule = Ruleset(rules, checksum="", rule_matching=matching, share_work=False)
                hits = sum(len(shared.evaluate(e)) for e in events)
                assert hits == sum(len(per_rule.evaluate(e)) for e in events), "paths disagree"
                slow = fast = float("inf")
                for _ in range(2):  # interleaved, so drift on a noisy machine hits both alike
                    slow = min(slow, _ns_per_event(per_rule, events, args.repeat))
                    fast = min(fast, _ns_per_event(shared, events, args.repeat))
                ratio = fast / slow
                print(f"{matching:<8} {evt_type:<7} {n:>5} {slow:>12.0f} {fast:>10.0f} {ratio:>6.2f} {hits:>8}")
                if matching == "all" and n == len(candidates) and ratio > 0.7:
                    ok = False
    print(f"target (all candidates, all matching: shared <= 0.7x per-rule): {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
