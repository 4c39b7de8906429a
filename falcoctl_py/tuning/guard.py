"""Detection guard: replay known-bad activity through the base and the tuned rules, and refuse what it loses.

Owns: the corpus format and the verdict "does this proposal lose a detection". Scenarios come from three places:
the corpus shipped for the bundled rules (``falcoctl_py/data/guard/corpus.yaml``), the scenarios shipped for the
upstream Falco rules (``profiles/guard/*.yaml``, events inline, each with its provenance), and the user's own
recorded attacks (``--guard FILE``: a corpus file, or an events file whose every event must keep raising what it
raises under the base rules). On top of them, ``counterfactual`` copies the noise each proposal hides with one
identity dimension changed.

A proposal is refused, with the event it would hide, when it names a field the rule's condition pins or no
identity anchor, when applied alone on top of the base rules it loses a scenario detection or a counterfactual
copy; a refused proposal that appended to the rule's own exception falls back to a new named one. A proposal no
scenario or counterfactual covers is refused too (nothing proves it safe) unless the caller allows unguarded
proposals; it is then accepted and flagged UNGUARDED.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from falcoctl_py.errors import FindingsError
from falcoctl_py.tuning import counterfactual
from falcoctl_py.tuning.identity import ALL_ANCHORS, describe, event_of
from falcoctl_py.tuning.pinned import rule_pins
from falcoctl_py.tuning.proposals import Proposal, render_override


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    source: str
    events: tuple[Any, ...]  # decoded engine events
    expect_rules: tuple[str, ...]  # empty: every rule the base rules raise on it (a user's recorded attack)
    desc: str = ""
    provenance: str = ""


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


def _inline_events(source: str, records: Any, where: str) -> tuple[Any, ...]:
    if not isinstance(records, list) or not records:
        raise FindingsError(f"{where}: 'events' must be a non-empty list of events or a file name")
    out = []
    for i, rec in enumerate(records):
        try:
            out.append(event_of(source, rec))
        except (ValueError, TypeError, KeyError) as exc:
            raise FindingsError(f"{where}: event #{i + 1}: {exc}") from None
    return tuple(out)


def load_corpus(path: Path | None = None) -> list[Scenario]:
    """Scenarios from a corpus file (default: the one shipped with the package). ``events`` is a file name
    beside the corpus or a list of inline events (audit Event objects, syscall record objects)."""
    path = path or corpus_dir() / "corpus.yaml"
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise FindingsError(f"cannot read guard corpus {path}: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("scenarios"), list):
        raise FindingsError(f"{path}: a guard corpus is a mapping with a 'scenarios' list")
    out = []
    for i, item in enumerate(doc["scenarios"]):
        where = f"{path}: scenario #{i + 1}"
        try:
            events = item["events"]
            source = item["source"]
            loaded = (_inline_events(source, events, where) if not isinstance(events, str)
                      else _decode_events(source, path.parent / events))
            out.append(Scenario(name=item["name"], source=source, events=loaded,
                                expect_rules=tuple(item["expect_rules"]), desc=item.get("desc", ""),
                                provenance=item.get("provenance", "")))
        except (KeyError, TypeError) as exc:
            raise FindingsError(f"{where} has no {exc.args[0]!r}") from None
    return out


def upstream_corpora() -> list[Scenario]:
    """The scenarios shipped for the upstream Falco rules (``profiles/guard/*.yaml``)."""
    from falcoctl_py.resources import profiles_dir

    return [sc for p in sorted((profiles_dir() / "guard").glob("*.yaml")) for sc in load_corpus(p)]


def user_guard(path: Path) -> list[Scenario]:
    """``--guard FILE``: a corpus file (YAML with ``scenarios``), or recorded events (audit JSON / JSON lines, or
    a syscall recording), each event a scenario of its own that must keep raising what the base rules raise."""
    if path.suffix in (".yaml", ".yml"):
        return load_corpus(path)
    from engine.sources.replay import ReplayError, ReplaySource

    errors = []
    for source in ("k8s_audit", "syscall"):
        try:
            events = tuple(ReplaySource(path, name=source))
        except ReplayError as exc:
            errors.append(str(exc))
            continue
        except OSError as exc:
            raise FindingsError(f"--guard {path}: {exc.strerror or exc}") from None
        if not events:
            raise FindingsError(f"--guard {path}: no events")
        return [Scenario(name=f"{path.name}#{i + 1}", source=source, events=(ev,), expect_rules=(),
                         desc=describe(ev), provenance=f"--guard {path}") for i, ev in enumerate(events)]
    raise FindingsError(f"--guard {path}: neither audit events nor a syscall recording ({errors[0]})")


def relevant(corpus: Sequence[Scenario], ruleset: Any) -> list[Scenario]:
    """Scenarios that expect a rule the ruleset has (or any rule: a user's recorded attacks)."""
    names = {r.name for r in ruleset.rules}
    return [sc for sc in corpus if not sc.expect_rules or set(sc.expect_rules) & names]


def load_ruleset(rules_files: Sequence[Any], override: str | None = None, *, rule_matching: str = "first") -> Any:
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
    """Scenario name -> the expected rules that fired on it (any rule, when it expects none in particular)."""
    out = {}
    for sc in corpus:
        got = set(fired(ruleset, sc.events))
        out[sc.name] = got & set(sc.expect_rules) if sc.expect_rules else got
    return out


def lost(before: Mapping[str, set[str]], after: Mapping[str, set[str]]) -> list[dict[str, str]]:
    return [{"scenario": sc, "rule": r} for sc, rules in sorted(before.items())
            for r in sorted(rules - after.get(sc, set()))]


def static_refusal(p: Proposal) -> list[str]:
    """Why a proposal is unsafe whatever the events: a pinned field, or no identity anchor."""
    why = [f"names {f}, which the rule's condition compares to a constant on every path to a match: the exception "
           "would hide the action the rule watches, not an identity" for f in p.fields if f in p.pinned]
    if not set(p.fields) & ALL_ANCHORS:
        why.append(f"names no identity anchor (user or service account, image, executable, parent) among "
                   f"{', '.join(p.fields)}: it would hide everybody's alerts there")
    return why


@dataclass
class Context:
    """What one screening run shares: rules, corpus, base detections, the window's noise."""

    rules_files: Sequence[Path | tuple[str, str]]
    corpus: Sequence[Scenario]
    base: Any
    base_det: dict[str, set[str]]
    rule_matching: str
    noise_events: Mapping[str, Sequence[Any]]
    alerts: Sequence[Mapping[str, Any]]
    pins: Mapping[str, frozenset[str]]


def _scenario_event(ctx: Context, name: str, rule: str) -> str:
    sc = next(s for s in ctx.corpus if s.name == name)
    ev = next((e for e in sc.events if any(r.name == rule for r in ctx.base.evaluate(e))), sc.events[0])
    return describe(ev)


def check(p: Proposal, ctx: Context, *, allow_unguarded: bool) -> Proposal:
    """One proposal alone on top of the base rules: accepted, or refused with what it would hide."""
    p = replace(p, pinned=tuple(sorted(ctx.pins.get(p.rule, frozenset()) | set(p.pinned))))
    why = static_refusal(p)
    if why:
        return p.refuse(why)
    alone = load_ruleset(ctx.rules_files, render_override([p]), rule_matching=ctx.rule_matching)
    gone = lost(ctx.base_det, detections(alone, ctx.corpus))
    hidden: list[dict[str, object]] = [{"check": "scenario", "scenario": g["scenario"], "rule": g["rule"],
                                        "event": _scenario_event(ctx, g["scenario"], g["rule"])} for g in gone]
    events = ctx.noise_events.get(p.rule)
    verdict = (counterfactual.check_events(p, events, base=ctx.base, alone=alone) if events
               else counterfactual.check_alerts(p, ctx.alerts))
    hidden += verdict.hidden
    covered = sum(1 for sc in ctx.corpus if p.rule in sc.expect_rules or p.rule in ctx.base_det.get(sc.name, ()))
    p = replace(p, checks=covered + verdict.checked)
    if hidden:
        return p.refuse([f"hides {h['event']}" + (f" (scenario '{h['scenario']}')" if h["check"] == "scenario"
                                                  else f" (counterfactual: another {h['changed']})")
                         for h in hidden[:5]], hidden)
    if not p.checks:
        if not allow_unguarded:
            text = (f"no guard scenario or counterfactual covers rule '{p.rule}': nothing proves the exception "
                   "safe (--allow-unguarded accepts it, flagged)")
            return p.refuse([text])
        return replace(p, reason=p.reason + "; UNGUARDED: accepted with --allow-unguarded, nothing checked it")
    if verdict.spanned:
        p = replace(p, reason=p.reason + f"; spans {', '.join(verdict.spanned)} (several values in the noise)")
    return p


def screen(proposals: Sequence[Proposal], *, rules_files: Sequence[Path | tuple[str, str]], corpus: Sequence[Scenario],
           allow_unguarded: bool = False, rule_matching: str = "first",
           noise_events: Mapping[str, Sequence[Any]] | None = None,
           alerts: Sequence[Mapping[str, Any]] = ()) -> tuple[list[Proposal], dict[str, Any]]:
    """Refuse every proposal that loses a detection alone; then check the accepted set together.

    ``noise_events``: rule -> the window's events it alerted on (for event-level counterfactuals); without them
    the counterfactuals run on ``alerts``. Returns the screened proposals and the guard section of the report.
    """
    base = load_ruleset(rules_files, rule_matching=rule_matching)
    corpus = relevant(corpus, base)
    ctx = Context(rules_files=rules_files, corpus=corpus, base=base, base_det=detections(base, corpus),
                  rule_matching=rule_matching, noise_events=noise_events or {}, alerts=alerts,
                  pins=rule_pins(base))
    out: list[Proposal] = []
    for p in proposals:
        if not p.accepted or p.kind != "exception":
            out.append(p)
            continue
        checked = check(p, ctx, allow_unguarded=allow_unguarded)
        if not checked.accepted and p.fallback is not None:
            alt = check(p.fallback, ctx, allow_unguarded=allow_unguarded)
            why = f"appending to the rule's own exception '{p.name}' was refused: {checked.refused_because[0]}"
            checked = replace(alt, reason=alt.reason + "; " + why) if alt.accepted else alt
        out.append(checked)
    tuned = load_ruleset(rules_files, render_override(out), rule_matching=rule_matching)
    tuned_det = detections(tuned, corpus)
    base_det = ctx.base_det
    refused = [p for p in out if p.kind == "exception" and not p.accepted]
    report = {
        "scenarios": [{"name": sc.name, "source": sc.source, "expect_rules": list(sc.expect_rules),
                       "fired_before": sorted(base_det[sc.name]), "fired_after": sorted(tuned_det[sc.name]),
                       "provenance": sc.provenance} for sc in corpus],
        "detections_before": sum(len(v) for v in base_det.values()),
        "detections_after": sum(len(v) for v in tuned_det.values()),
        "lost": lost(base_det, tuned_det),
        "missing_before": [{"scenario": sc.name, "rule": r} for sc in corpus
                           for r in sc.expect_rules if r not in base_det[sc.name]],
        "counterfactual_checks": sum(p.checks for p in out if p.kind == "exception"),
        "refused": len(refused),
        "refused_reasons": _reason_counts(refused),
        "unguarded": sum(1 for p in out if p.accepted and "UNGUARDED" in p.reason),
    }
    return out, report


def _reason_counts(refused: Sequence[Proposal]) -> dict[str, int]:
    kinds: dict[str, int] = {}
    for p in refused:
        text = p.refused_because[0] if p.refused_because else ""
        kind = ("pinned field" if "compares to a constant" in text else
                "no identity anchor" if "no identity anchor" in text else
                "hides a guard scenario" if "(scenario '" in text else
                "hides a counterfactual copy" if "counterfactual" in text else
                "unguarded" if "no guard scenario" in text else "other")
        kinds[kind] = kinds.get(kind, 0) + 1
    return kinds
