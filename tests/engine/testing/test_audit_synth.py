"""The synthetic audit stream: deterministic per seed, shaped like a busy cluster, valid audit events."""

from __future__ import annotations

from collections import Counter

from engine.fields import lookup
from engine.sources.k8s_audit.decode import decode_payload
from engine.testing.audit_synth import AuditSynth, synth_lines


def test_same_seed_same_bytes_other_seed_other_bytes() -> None:
    assert synth_lines(300, seed=1) == synth_lines(300, seed=1)
    assert synth_lines(300, seed=1) != synth_lines(300, seed=2)


def test_mix_is_mostly_system_traffic_with_a_risky_minority() -> None:
    events = [e for line in synth_lines(5000, seed=3) for e in decode_payload(line)]
    verbs = Counter(e.verb for e in events)
    reads = verbs["get"] + verbs["list"] + verbs["watch"]
    assert reads / len(events) > 0.5
    users = Counter(lookup("k8s_audit", "ka.user.name").extract(e, None) for e in events)  # type: ignore[union-attr]
    system = sum(n for u, n in users.items() if u.startswith("system:"))
    assert system / len(events) > 0.85
    priv = [e for e in events if lookup("k8s_audit", "ka.req.container.privileged").extract(e, None) == "true"]  # type: ignore[union-attr]
    execs = [e for e in events if e.obj["objectRef"].get("subresource") in ("exec", "attach")]
    assert priv and execs
    assert len(priv) < 0.05 * len(events)
    assert {e.obj["level"] for e in events} >= {"Metadata", "RequestResponse"}
    assert {e.obj["apiVersion"] for e in events} == {"audit.k8s.io/v1"}


def test_time_moves_forward() -> None:
    events = list(AuditSynth(seed=5).events(200))
    stamps = [e["stageTimestamp"] for e in events]
    assert stamps == sorted(stamps)
