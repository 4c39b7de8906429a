"""Noise explanation: dominant values become explanations, thinly spread noise does not."""

from __future__ import annotations

import random

from falcoctl_py.tuning.noise import explain, rank_rules


def alert(rule: str, **fields: object) -> dict[str, object]:
    return {"rule": rule, "source": "syscall", "priority": "Warning",
            "output_fields": {k.replace("__", "."): v for k, v in fields.items()}}


def test_one_dominant_process_is_explained_and_narrowed() -> None:
    alerts = [alert("R", proc__name="backup-agent", proc__pname="cron", container__image__repository="acme/backup")
              for _ in range(95)]
    alerts += [alert("R", proc__name=f"tool{i}", proc__pname="bash", container__image__repository=f"img{i}")
               for i in range(5)]
    (ex,) = explain(alerts)
    assert ex.count == 95 and abs(ex.share - 0.95) < 1e-9
    assert dict(zip(ex.fields, ex.values)) == {"proc.name": "backup-agent", "proc.pname": "cron",
                                               "container.image.repository": "acme/backup"}


def test_noise_without_dominant_value_gets_no_explanation() -> None:
    rng = random.Random(7)
    alerts = [alert("R", proc__name=f"p{rng.randrange(10_000)}", proc__pname=f"q{i}") for i in range(200)]
    assert explain(alerts) == ()


def test_two_dominant_values_give_two_explanations() -> None:
    alerts = ([alert("R", proc__exepath="/a", user__name="root")] * 60
              + [alert("R", proc__exepath="/b", user__name="svc")] * 30)
    alerts += [alert("R", proc__exepath=f"/z{i}", user__name=f"u{i}") for i in range(10)]
    exps = explain(alerts)
    assert [e.values[0] for e in exps] == ["/a", "/b"]
    assert sum(e.count for e in exps) == 90


def test_missing_and_list_values_are_not_used() -> None:
    alerts = [alert("R", proc__name=None, ka__user__name="<NA>", k8s__ns__name=["a", "b"])] * 10
    assert explain(alerts) == ()


def test_rank_orders_by_count_and_computes_rate() -> None:
    alerts = [alert("quiet", proc__name="x")] * 2 + [alert("loud", proc__name="y")] * 30
    ranked = rank_rules(alerts, window_seconds=60)
    assert [r.rule for r in ranked] == ["loud", "quiet"]
    assert ranked[0].per_hour == 30 * 60


def audit(rule: str, **fields: object) -> dict[str, object]:
    return {"rule": rule, "source": "k8s_audit", "priority": "Warning",
            "output_fields": {k.replace("__", "."): v for k, v in fields.items()}}


def test_a_pinned_field_never_explains_noise() -> None:
    # the rule fixes ka.target.resource=secrets: it is the action, so the explanation is who reads them
    alerts = [audit("K8s Secret Get Successfully", ka__target__resource="secrets",
                    ka__user__name="system:serviceaccount:vault:operator", ka__target__namespace=f"ns{i % 7}")
              for i in range(70)]
    (ex,) = explain(alerts, fields=("ka.target.resource", "ka.user.name", "ka.target.namespace"),
                    anchors={"ka.target.resource", "ka.user.name"}, pinned={"ka.target.resource"})
    assert ex.fields == ("ka.user.name",) and ex.varying == ("ka.target.namespace",)


def test_a_scope_alone_never_anchors_an_explanation() -> None:
    # privileged pods in kube-system by many different controllers: no principal dominates
    alerts = [audit("Create Privileged Pod", ka__target__namespace="kube-system", ka__user__name=f"sa{i}")
              for i in range(40)]
    assert explain(alerts, fields=("ka.user.name", "ka.target.namespace")) == ()


def test_rank_rules_skips_pins_and_lists_top_identities() -> None:
    alerts = [audit("R", ka__user__name="bot", ka__target__namespace="ci")] * 30
    alerts += [audit("R", ka__user__name="alice", ka__target__namespace="ci")] * 5
    (r,) = rank_rules(alerts, window_seconds=60, pins={"R": {"ka.target.namespace"}})
    assert r.pinned == ("ka.target.namespace",)
    assert [e.fields for e in r.explanations] == [("ka.user.name",)]
    assert r.top_identities[0] == ("ka.user.name", "bot", 30)
