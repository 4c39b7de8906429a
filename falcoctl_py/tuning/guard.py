"""Detection guard: replay a corpus of known-bad activity through the base and the tuned rules.

Owns: the corpus format and the verdict "does this proposal lose a detection". The corpus ships with the package
(``falcoctl_py/data/guard/corpus.yaml``): scenarios of our own — audit events and recorded syscall events — each
naming the rules that must fire on it. A proposal is refused when, applied alone on top of the base rules, any
scenario stops raising a rule it raised before; a proposal for a rule no scenario covers is refused too (nothing
proves it safe) unless the caller allows unguarded proposals, and is then flagged.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from falcoctl_py.errors import FindingsError
from falcoctl_py.tuning.proposals import Proposal, render_override


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    source: str
    events: tuple[Any, ...]  # decoded engine events
    expect_rules: tuple[str, ...]
    desc: str = ""


def corpus_dir() -> Path:
    return Path(str(resources.files("falcoctl_py").joinpath("data/guard")))


def _decode_events(source: str, path: Path) -> tuple[Any, ...]:
    from engine.sources.replay import ReplayError, ReplaySource

    try:
        return tuple(ReplaySource(path, name=source))
    except ReplayError as exc:
        raise FindingsError(f"guard corpus: {exc}") from None
    except OSError as exc:
        raise FindingsError(f"guard corpus: cannot read {path}: {exc.strerror or exc}") from None


def load_corpus(path: Path | None = None) -> list[Scenario]:
    """Scenarios from a corpus file (default: the one shipped with the package)."""
    path = path or corpus_dir() / "corpus.yaml"
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise FindingsError(f"cannot read guard corpus {path}: {exc}") from None
    out = []
    for i, item in enumerate(doc.get("scenarios") or []):
        try:
            out.append(Scenario(name=item["name"], source=item["source"],
                                events=_decode_events(item["source"], path.parent / item["events"]),
                                expect_rules=tuple(item["expect_rules"]), desc=item.get("desc", "")))
        except KeyError as exc:
            raise FindingsError(f"{path}: scenario #{i + 1} has no {exc.args[0]!r}") from None
    return out


def load_ruleset(rules_files: Sequence[Path], override: str | None = None, *, rule_matching: str = "first") -> Any:
    from engine.rules import load_rules

    sources: list[Any] = list(rules_files)
    if override:
        sources.append(("tuned-rules.yaml", override))
    result = load_rules(sources, rule_matching=rule_matching)
    if not result.successful:
        first = result.errors[0]
        raise FindingsError(f"rules do not load: {first.file}:{first.line}: {first.code} {first.item_type} "
                            f"'{first.item_name}': {first.message}")
    return result.ruleset


def fired(ruleset: Any, events: Iterable[Any]) -> dict[str, int]:
    """Alert count per rule when ``events`` run through ``ruleset``."""
    counts: dict[str, int] = {}
    for ev in events:
        for rule in ruleset.evaluate(ev):
            counts[rule.name] = counts.get(rule.name, 0) + 1
    return counts


def detections(ruleset: Any, corpus: Sequence[Scenario]) -> dict[str, set[str]]:
    """Scenario name -> the expected rules that fired on it."""
    return {sc.name: set(fired(ruleset, sc.events)) & set(sc.expect_rules) for sc in corpus}


def lost(before: Mapping[str, set[str]], after: Mapping[str, set[str]]) -> list[dict[str, str]]:
    return [{"scenario": sc, "rule": r} for sc, rules in sorted(before.items())
            for r in sorted(rules - after.get(sc, set()))]


def screen(proposals: Sequence[Proposal], *, rules_files: Sequence[Path], corpus: Sequence[Scenario],
           allow_unguarded: bool = False, rule_matching: str = "first") -> tuple[list[Proposal], dict[str, Any]]:
    """Refuse every proposal that loses a detection alone; then check the accepted set together.

    Returns the screened proposals and the guard section of the report.
    """
    base = load_ruleset(rules_files, rule_matching=rule_matching)
    base_det = detections(base, corpus)
    covered = {r for sc in corpus for r in sc.expect_rules}
    out: list[Proposal] = []
    for p in proposals:
        if not p.accepted or p.kind != "exception":
            out.append(p)
            continue
        if p.rule not in covered and not allow_unguarded:
            out.append(p.refuse([f"no guard scenario covers rule '{p.rule}': nothing proves the exception safe"]))
            continue
        alone = load_ruleset(rules_files, render_override([p]), rule_matching=rule_matching)
        gone = lost(base_det, detections(alone, corpus))
        out.append(p.refuse([f"hides guard scenario '{g['scenario']}'" for g in gone]) if gone else p)
    tuned = load_ruleset(rules_files, render_override(out), rule_matching=rule_matching)
    tuned_det = detections(tuned, corpus)
    report = {
        "scenarios": [{"name": sc.name, "source": sc.source, "expect_rules": list(sc.expect_rules),
                       "fired_before": sorted(base_det[sc.name]), "fired_after": sorted(tuned_det[sc.name])}
                      for sc in corpus],
        "detections_before": sum(len(v) for v in base_det.values()),
        "detections_after": sum(len(v) for v in tuned_det.values()),
        "lost": lost(base_det, tuned_det),
        "missing_before": [{"scenario": sc.name, "rule": r} for sc in corpus
                           for r in sc.expect_rules if r not in base_det[sc.name]],
    }
    return out, report
