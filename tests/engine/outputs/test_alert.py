"""Falco-shaped alerts: JSON keys, nanosecond UTC time from the event, the text line."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest

from engine.outputs.alert import build_alert, clock_ns, iso8601_ns
from engine.priority import Priority


@dataclass(frozen=True)
class FakeFormatter:
    text: str
    fields: dict[str, Any]

    def format(self, event: Any) -> tuple[str, dict[str, Any]]:
        return self.text, self.fields


@dataclass(frozen=True)
class FakeRule:
    name: str = "Create Privileged Pod"
    priority: Priority = Priority.WARNING
    tags: tuple[str, ...] = ("k8s", "PCI_DSS")
    formatter: FakeFormatter = field(default_factory=lambda: FakeFormatter(
        "Pod started (user=alice)", {"ka.user.name": "alice", "ka.resp.name": None}))


@dataclass
class FakeEvent:
    ts: int = 1540476552_123456789
    source: str = "k8s_audit"


def test_time_formats() -> None:
    assert iso8601_ns(1540476552_123456789) == "2018-10-25T14:09:12.123456789Z"
    assert iso8601_ns(1540476552_000000001) == "2018-10-25T14:09:12.000000001Z"
    assert clock_ns(1540476552_123456789) == "14:09:12.123456789"


def test_alert_json_has_falcos_keys_and_values() -> None:
    alert = build_alert(FakeRule(), FakeEvent(), hostname="node-1")
    doc = orjson.loads(alert.to_json())
    assert sorted(doc) == ["hostname", "output", "output_fields", "priority", "rule", "source", "tags", "time"]
    assert doc["time"] == "2018-10-25T14:09:12.123456789Z"
    assert doc["priority"] == "Warning"
    assert doc["output"] == "14:09:12.123456789: Warning Pod started (user=alice)"
    assert doc["output_fields"] == {"ka.user.name": "alice", "ka.resp.name": None}
    assert doc["tags"] == ["PCI_DSS", "k8s"]
    assert (doc["rule"], doc["source"], doc["hostname"]) == ("Create Privileged Pod", "k8s_audit", "node-1")
    assert alert.to_text() == doc["output"]


def test_priority_given_as_text_is_normalised() -> None:
    rule = FakeRule(priority="INFO")  # type: ignore[arg-type]
    assert build_alert(rule, FakeEvent()).to_dict()["priority"] == "Informational"


def test_build_alert_makes_the_same_frozen_record_as_the_constructor() -> None:
    import msgspec

    from engine.outputs.alert import Alert, replace

    rule, event = FakeRule(), FakeEvent()
    alert = build_alert(rule, event, hostname="node-1")
    expected = Alert(rule=rule.name, priority=rule.priority, source=event.source, ts=event.ts,
                     output="14:09:12.123456789: Warning Pod started (user=alice)",
                     output_fields={"ka.user.name": "alice", "ka.resp.name": None}, tags=rule.tags,
                     hostname="node-1")
    assert alert == expected
    assert [getattr(alert, f.name) for f in msgspec.structs.fields(Alert)] == \
        [getattr(expected, f.name) for f in msgspec.structs.fields(Alert)]
    with pytest.raises(AttributeError):
        alert.rule = "other"  # type: ignore[misc]
    changed = replace(alert, output="x")
    assert (changed.output, changed.rule, alert.output) == ("x", alert.rule, expected.output)
    listed = build_alert(FakeRule(tags=["a", "b"]), FakeEvent())  # type: ignore[arg-type]
    assert listed.tags == ("a", "b") and listed.hostname  # tags always a tuple, hostname defaulted


def test_alert_clock_prefix_crosses_seconds_and_the_epoch() -> None:
    for ts in (0, 999_999_999, 1_000_000_000, 1540476552_000000001, -1):
        alert = build_alert(FakeRule(), FakeEvent(ts=ts))
        assert alert.output.startswith(f"{clock_ns(ts)}: Warning ")
