"""The in-pod rules follower, through the assembled service and a real registry (docker-registry on loopback):
a new digest is hot-reloaded; a broken artifact, one needing a newer engine, and an unreachable registry are
refused while the old rules keep alerting; a restart starts from the last good download."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import orjson
from registry_support import RunningRegistry, registry  # noqa: F401

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from service_support import audit, config, metric, request, wait_for

from engine.config import validate_config
from engine.oci import rulesfile
from engine.oci.registry import Reference, Registry
from engine.service import Service

RULE = """\
- required_engine_version: {engine}
- rule: {name}
  desc: test rule
  condition: ka.verb = {verb}
  output: "{verb} of %ka.target.resource"
  priority: WARNING
  source: k8s_audit
"""


def publish(reg: RunningRegistry, ref: str, text: str) -> str:
    built = rulesfile.build_artifact({"followed_rules.yaml": text.encode()}, name="followed")
    return rulesfile.push(Registry(reg.host), Reference.parse(ref), built)


def rules_of(events: Any) -> list[str]:
    return [orjson.loads(line)["rule"] for line in events.read_bytes().splitlines()]


def follow_results(mport: int) -> dict[str, float]:
    return {dict(k)["result"]: v for k, v in metric(mport, "falcopy_rules_follow").items()}


def test_follower_reloads_new_digests_and_refuses_bad_ones(registry: RunningRegistry, tmp_path: Path) -> None:  # noqa: F811
    ref = f"{registry.host}/rules/followed:stable"
    first = publish(registry, ref, RULE.format(engine="0.57.0", name="Creates", verb="create"))
    (tmp_path / "base_rules.yaml").write_text("- list: unrelated\n  items: [a]\n")
    cfg = config(tmp_path, rules=[str(tmp_path / "base_rules.yaml")],
                 follow={"refs": [ref], "interval": 1, "dir": str(tmp_path / "oci")})
    svc = Service(validate_config(cfg))
    svc.start()
    hook, mport = svc.sources[0].port, svc.metrics.port
    alerts = tmp_path / "alerts.json"
    try:
        assert svc.follower.stats()[ref]["digest"] == first  # synced before the first load
        request(hook, "POST", "/k8s-audit", orjson.dumps([audit(1, "create"), audit(2, "delete")]))
        assert wait_for(lambda: alerts.exists() and rules_of(alerts) == ["Creates"])

        loads = svc.reloader.stats()["reloads"].get("success", 0)
        second = publish(registry, ref, RULE.format(engine="0.57.0", name="Deletes", verb="delete"))
        assert wait_for(lambda: svc.follower.stats()[ref]["digest"] == second, timeout=10)
        # the digest is recorded when the download lands, the swap follows: events wait for the new ruleset
        assert wait_for(lambda: svc.reloader.stats()["reloads"].get("success", 0) > loads, timeout=10)
        request(hook, "POST", "/k8s-audit", orjson.dumps([audit(3, "create"), audit(4, "delete")]))
        assert wait_for(lambda: rules_of(alerts) == ["Creates", "Deletes"])

        # a broken rules file: downloaded, fails validation, never reaches the engine
        publish(registry, ref, "- rule: Broken\n  condition: ka.verb =\n  output: x\n  priority: INFO\n  desc: d\n")
        assert wait_for(lambda: follow_results(mport).get("rejected") == 1, timeout=10)
        assert "error(s) loading the new rules" in svc.follower.stats()[ref]["last_error"]
        # an artifact that needs a newer engine than this one: refused before loading
        publish(registry, ref, RULE.format(engine="0.99.0", name="Future", verb="create"))
        assert wait_for(lambda: follow_results(mport).get("rejected") == 2, timeout=10)
        assert "needs engine version 0.99.0" in svc.follower.stats()[ref]["last_error"]
        request(hook, "POST", "/k8s-audit", orjson.dumps([audit(5, "delete")]))  # the good rules still alert
        assert wait_for(lambda: rules_of(alerts) == ["Creates", "Deletes", "Deletes"])
        assert svc.follower.stats()[ref]["digest"] == second
        health = orjson.loads(request(mport, "GET", "/healthz")[1])
        assert health["status"] == "ok" and health["follow"][ref]["digest"] == second

        registry.stop()  # the registry goes away: polls fail, nothing changes
        assert wait_for(lambda: follow_results(mport).get("failed", 0) >= 1, timeout=20)
        assert "unreachable" in svc.follower.stats()[ref]["last_error"]
        request(hook, "POST", "/k8s-audit", orjson.dumps([audit(6, "delete")]))
        assert wait_for(lambda: rules_of(alerts)[-1:] == ["Deletes"] and len(rules_of(alerts)) == 4)
    finally:
        assert svc.shutdown()
    versions = sorted(p.name for p in (tmp_path / "oci").iterdir())
    assert len(versions) == 1  # one followed reference
    kept = sorted(p.name for p in (tmp_path / "oci" / versions[0]).iterdir())
    assert kept == ["current", second.replace(":", "-")]  # old versions and staging removed

    # a restart with the registry down starts from the last good download
    cfg["sources"]["k8s_audit"]["webhook"]["listen"] = "127.0.0.1:0"
    svc2 = Service(validate_config(cfg))
    try:
        assert [r.name for r in svc2.engine.ruleset.rules] == ["Deletes"]
        assert svc2.follower.stats()[ref]["digest"] == second
    finally:
        svc2.shutdown()
