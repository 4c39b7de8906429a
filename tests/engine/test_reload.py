"""Hot reload with the real rules loader and engine: change detected, broken file keeps old rules, symlink swap."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import orjson
from service_support import RULE, audit

from engine.config import rules_files
from engine.reload import Reloader
from engine.rules import load_rules
from engine.runtime import Engine
from engine.sources.k8s_audit.decode import decode_payload

BROKEN = "- rule: Half\n  condition: ka.verb = \n  output: x\n  priority: nope\n  source: k8s_audit\n"


def event(verb: str) -> Any:
    return decode_payload(orjson.dumps(audit(0, verb)))[0]


def fired(engine: Engine, verb: str) -> list[str]:
    return [a.rule for a in engine.process(event(verb))]


def make(rules: Path) -> tuple[Engine, Reloader]:
    result = load_rules([rules])
    assert result.successful, result.errors
    engine = Engine(result.ruleset)
    return engine, Reloader(lambda: [rules], engine=engine, interval=0.05)


def test_change_reloads_and_broken_file_keeps_old_rules(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULE.format(name="Creates", verb="create"))
    engine, reloader = make(rules)
    checksum = engine.stats()["rules_checksum"]
    assert reloader.check() is None  # nothing changed
    assert fired(engine, "create") == ["Creates"]

    rules.write_text(BROKEN)
    assert reloader.check() is False
    assert fired(engine, "create") == ["Creates"]  # the old ruleset keeps firing
    assert reloader.stats()["reloads"] == {"failure": 1}
    assert engine.stats()["rules_checksum"] == checksum
    assert "error(s) loading" in reloader.stats()["last_error"]

    rules.write_text(RULE.format(name="Deletes", verb="delete"))
    assert reloader.check() is True
    assert fired(engine, "create") == [] and fired(engine, "delete") == ["Deletes"]
    assert reloader.stats()["reloads"] == {"failure": 1, "success": 1}
    assert engine.stats()["rules_checksum"] not in (None, checksum)


def test_configmap_symlink_swap_is_detected(tmp_path: Path) -> None:
    mount = tmp_path / "rules.d"
    mount.mkdir()
    for version, verb in (("..v1", "create"), ("..v2", "patch")):
        (mount / version).mkdir()
        (mount / version / "r.yaml").write_text(RULE.format(name=f"Rule {verb}", verb=verb))
        os.utime(mount / version / "r.yaml", ns=(1_000_000_000, 1_000_000_000))  # same mtime in both
    os.symlink("..v1", mount / "..data")
    os.symlink("..data/r.yaml", mount / "r.yaml")
    result = load_rules(rules_files([str(mount)]))
    engine = Engine(result.ruleset)
    reloader = Reloader(lambda: rules_files([str(mount)]), engine=engine, interval=0.05)
    assert fired(engine, "create") == ["Rule create"]
    os.symlink("..v2", mount / "..data_tmp")
    os.replace(mount / "..data_tmp", mount / "..data")  # atomic swap, as the kubelet does
    assert reloader.check() is True
    assert fired(engine, "patch") == ["Rule patch"] and fired(engine, "create") == []


def test_watch_thread_and_forced_reload(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULE.format(name="Creates", verb="create"))
    engine, reloader = make(rules)
    reloader.start()
    try:
        rules.write_text(RULE.format(name="Gets", verb="get"))
        deadline = time.monotonic() + 5
        while fired(engine, "get") != ["Gets"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert fired(engine, "get") == ["Gets"]
        reloader.reload_now()  # SIGHUP: loads even though nothing changed
        deadline = time.monotonic() + 5
        while reloader.stats()["reloads"].get("success", 0) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert reloader.stats()["reloads"]["success"] == 2
    finally:
        reloader.stop()


def test_a_file_rewritten_in_place_is_loaded_whole_not_empty(tmp_path: Path) -> None:
    """The look that finds a change may fall between the rewrite's truncation and its write: the reload waits for
    the file to settle, so the empty file (a valid ruleset without rules) never becomes the running one."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULE.format(name="Creates", verb="create"))
    engine, reloader = make(rules)
    loaded: list[int] = []
    reloader._loader = lambda files, **kw: (loaded.append(len(rules.read_bytes())), load_rules(files, **kw))[1]
    with open(rules, "w") as fh:  # truncated: what a look between the two steps of the rewrite sees
        writer = threading.Timer(reloader.settle / 2, lambda: (fh.write(RULE.format(name="Gets", verb="get")),
                                                               fh.flush()))
        writer.start()
        assert reloader.check() is True
        writer.join()
    assert loaded and 0 not in loaded, loaded
    assert fired(engine, "get") == ["Gets"] and fired(engine, "create") == []


def test_missing_file_is_a_failure_not_a_crash(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULE.format(name="Creates", verb="create"))
    engine, reloader = make(rules)
    rules.unlink()
    assert reloader.check() is False
    assert fired(engine, "create") == ["Creates"]


def test_swap_listeners_get_the_new_ruleset_and_a_failing_one_does_not_undo_the_swap(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULE.format(name="Creates", verb="create"))
    engine, reloader = make(rules)
    seen: list[object] = []

    def broken(ruleset: object) -> None:
        raise RuntimeError("cannot re-narrow")

    reloader.on_swap = [broken, seen.append]
    rules.write_text(RULE.format(name="Patches", verb="patch"))
    assert reloader.check(force=True) is True
    assert seen == [engine.ruleset]
    assert fired(engine, "patch") == ["Patches"]
    rules.write_text(BROKEN)
    assert reloader.check(force=True) is False
    assert len(seen) == 1  # a failed load swaps nothing and tells no one
