"""The named audit stream mixes: the default one unchanged, ``bodies`` about 3 KB of object bodies per event on
average, ``alerts`` raising an upstream alert for at least 15 % of its events."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import orjson
import pytest

from engine.rules import load_rules
from engine.runtime import Engine
from engine.sources.k8s_audit.decode import decode_payload
from engine.testing.audit_mixes import MIXES, mix_lines
from engine.testing.audit_synth import synth_lines


def test_default_mix_is_the_synth_stream() -> None:
    assert mix_lines(400, seed=6) == synth_lines(400, seed=6)
    assert mix_lines(400, seed=6, mix="bodies") == mix_lines(400, seed=6, mix="bodies")
    assert mix_lines(400, seed=6, mix="bodies") != mix_lines(400, seed=7, mix="bodies")


@pytest.mark.parametrize("mix", sorted(MIXES))
def test_every_line_is_one_audit_event(mix: str) -> None:
    lines = mix_lines(1500, seed=2, mix=mix)
    events = [e for line in lines for e in decode_payload(line)]
    assert len(events) == len(lines)
    stamps = [e.ts for e in events]
    assert stamps == sorted(stamps)


def test_bodies_mix_is_request_response_heavy() -> None:
    lines = mix_lines(4000, seed=3, mix="bodies")
    mean = sum(map(len, lines)) / len(lines)
    assert 2500 < mean < 3500
    objs = [orjson.loads(line) for line in lines]
    with_body = Counter(o["objectRef"]["resource"] for o in objs if "requestObject" in o or "responseObject" in o)
    assert {"pods", "secrets", "configmaps"} <= set(with_body)
    assert {"clusterroles", "roles", "rolebindings", "clusterrolebindings"} & set(with_body)
    body_bytes = sum(len(orjson.dumps(o.get("requestObject"))) + len(orjson.dumps(o.get("responseObject")))
                     for o in objs)
    assert body_bytes > 0.5 * sum(map(len, lines))  # most of the bytes are bodies few rules read


def test_alerts_mix_raises_an_alert_for_at_least_15_percent(upstream_rules: Path) -> None:
    result = load_rules([upstream_rules / "k8s_audit_rules.yaml"])
    assert result.ruleset is not None
    engine = Engine(result.ruleset)
    lines = mix_lines(4000, seed=4, mix="alerts")
    alerts = engine.process_batch([e for line in lines for e in decode_payload(line)])
    assert len(alerts) >= 0.15 * len(lines)
    assert len({a.rule for a in alerts}) >= 8  # many rules, not one noisy one
    default = engine.process_batch([e for line in mix_lines(4000, seed=4) for e in decode_payload(line)])
    assert len(default) < 0.1 * 4000
