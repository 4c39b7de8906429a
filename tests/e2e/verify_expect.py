"""What a ``verify`` run is expected to report, derived rather than listed: the concrete tests the suite loader
finds, and which rules a backend cannot see (from each rule's event types and the events the backend reports).

Owns: ``expected_tests`` (the loader's concrete tests, in run order), ``rule_event_types`` (each rule of a rules
file with the event types its condition can match; None when unrestricted), ``unseen_rules`` (the rules a
backend never gets an event for), and ``documented_unseen`` (the proc table of docs/verify.md, rule -> events).

Must not: run verify or touch the host.
"""

from __future__ import annotations

from pathlib import Path

from shared_material import REPO

from engine.rules import load_rules
from engine.sources.syscall.proc_connector.backend import ProcConnectorBackend
from falcoctl_py.verify.model import Test
from falcoctl_py.verify.suite import load

# The events each backend reports; None: any syscall the rules ask for.
BACKEND_EVENTS: dict[str, frozenset[str] | None] = {
    "ebpf": None, "audit": None, "proc": ProcConnectorBackend.EVENT_TYPES,
}
PROC_TABLE_HEADER = "| rule (proc cannot see it) | events it needs |"


def expected_tests(*paths: Path) -> list[Test]:
    return load(list(paths))


def rule_event_types(rules_file: Path) -> dict[str, frozenset[str] | None]:
    result = load_rules([rules_file])
    assert result.successful and result.ruleset is not None, [e.message for e in result.errors]
    return {r.name: r.evttypes for r in result.ruleset.rules if r.source == "syscall"}


def unseen_rules(backend: str, event_types: dict[str, frozenset[str] | None]) -> set[str]:
    """The rules that never fire with ``backend``: those restricted to event types it does not report."""
    seen = BACKEND_EVENTS[backend]
    if seen is None:
        return set()
    return {name for name, types in event_types.items() if types is not None and types.isdisjoint(seen)}


def documented_unseen(doc: Path = REPO / "docs" / "verify.md") -> dict[str, frozenset[str]]:
    """The table of rules the proc backend cannot see in docs/verify.md: rule -> the events it needs."""
    lines = doc.read_text().splitlines()
    assert PROC_TABLE_HEADER in lines, f"{doc} lost its table starting {PROC_TABLE_HEADER!r}"
    out: dict[str, frozenset[str]] = {}
    for line in lines[lines.index(PROC_TABLE_HEADER) + 2:]:
        if not line.startswith("|"):
            break
        rule, events = (cell.strip() for cell in line.strip().strip("|").split("|"))
        out[rule] = frozenset(e.strip().strip("`") for e in events.split(","))
    return out
