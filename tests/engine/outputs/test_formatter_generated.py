"""The generated ``format`` function gives what formatting each token in turn gives: literal text kept exactly
(quotes, braces, backslashes, percent signs), repeated keys, non-string values, failing extractors, fresh dicts."""

from __future__ import annotations

from typing import Any

import pytest

from engine.events.k8s_audit import DecodedEvent
from engine.fields.base import FieldSpec, FieldType
from engine.outputs.formatter import NA, OutputFormatter, render
from engine.sources.k8s_audit.decode import decode_payload
from engine.testing.audit_synth import synth_lines


def _reference(fmt: OutputFormatter, event: Any) -> tuple[str, dict[str, Any]]:
    """The obvious formatter: one token after the other."""
    out: list[str] = []
    values: dict[str, Any] = {}
    for part in fmt._parts:
        if isinstance(part, str):
            out.append(part)
            continue
        try:
            raw = part.spec.extract(event, part.arg)
        except Exception:  # noqa: BLE001
            raw = None
        if part.arg is not None and isinstance(raw, (list, tuple)) and len(raw) == 1:
            raw = raw[0]
        text, typed = render(raw)
        out.append(text)
        values[part.key] = typed
    return "".join(out), values


OUTPUTS = [
    "user=%ka.user.name verb=%(ka.verb) {braces} {{double}} 'single' \"double\" \\back\\ end",
    "same twice %ka.verb/%ka.verb and %jevt.value[/stage] %jevt.value[/responseStatus]",
    "code=%ka.response.code images=%ka.req.pod.containers.image first=%ka.req.pod.containers.image[0]",
    "cmd=%ka.uri.param[command] ns=%ka.target.namespace name=%ka.target.name sub=%ka.target.subresource",
    "",
    "%ka.verb",
    "f'{x}' \t tab and newline \n done",
]


@pytest.mark.parametrize("output", OUTPUTS)
def test_generated_formatter_equals_the_token_by_token_reference(output: str) -> None:
    fmt = OutputFormatter(output, "k8s_audit")
    events = [e for line in synth_lines(600, seed=4) for e in decode_payload(line)]
    events.append(DecodedEvent({"verb": 7, "stage": None, "user": "not an object", "responseStatus": {"code": 2.5},
                              "stageTimestamp": "2024-01-01T00:00:00Z"}, ts=1704067200_000000000))
    for event in events:
        got = fmt.format(event)
        assert got == _reference(fmt, event)
        assert list(got[1]) == list(_reference(fmt, event)[1])  # same key order too


def test_each_call_returns_a_new_fields_dict() -> None:
    fmt = OutputFormatter("v=%ka.verb", "k8s_audit")
    event = DecodedEvent({"verb": "get", "stageTimestamp": "2024-01-01T00:00:00Z"}, ts=1704067200_000000000)
    first, second = fmt.format(event)[1], fmt.format(event)[1]
    assert first == second and first is not second


def test_an_extractor_that_raises_gives_a_missing_value() -> None:
    def broken(event: Any, arg: Any) -> Any:
        raise RuntimeError("boom")

    table = {"x.broken": FieldSpec("x.broken", FieldType.STRING, extract=broken),
             "x.fine": FieldSpec("x.fine", FieldType.UINT64, extract=lambda e, a: 42)}
    fmt = OutputFormatter("a=%x.broken b=%x.fine", "k8s_audit", fields=table)
    assert fmt.format(object()) == (f"a={NA} b=42", {"x.broken": None, "x.fine": 42})
