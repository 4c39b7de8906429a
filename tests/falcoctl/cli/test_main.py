"""The CLI edge: version output, global log options, and errors rendered as one line with an exit code."""

from __future__ import annotations

import json

import click
import pytest
from cli_support import cli_process

from falcoctl_py.cli import main as cli_main
from falcoctl_py.errors import ClusterError


def test_version_json_reports_engine_semantics() -> None:
    proc = cli_process("version", "-o", "json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    import engine
    assert info["engine_version"] == engine.__version__
    assert info["falco_engine_version"] == engine.FALCO_ENGINE_VERSION


def test_unknown_command_is_usage_error() -> None:
    proc = cli_process("no-such-command")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr


def test_json_log_lines_parse_and_carry_fields(capsys: pytest.CaptureFixture[str]) -> None:
    import logging

    from falcoctl_py.logs import setup_logging

    setup_logging("debug", "json")
    try:
        logging.getLogger("falcoctl_py.test").warning("rules reloaded", extra={"fields": {"rules": 3}})
    finally:
        setup_logging("info", "text")
    line = capsys.readouterr().err.strip().splitlines()[-1]
    doc = json.loads(line)
    assert doc["level"] == "warning" and doc["msg"] == "rules reloaded" and doc["rules"] == 3
    assert doc["time"].endswith("Z")


def test_typed_error_is_one_line_with_exit_code(monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    @click.command("boom")
    def boom() -> None:
        raise ClusterError("cannot reach the API server at https://127.0.0.1:1: connection refused")

    monkeypatch.setitem(cli_main.COMMANDS, "boom", (__name__, "_boom", "test"))
    globals()["_boom"] = boom
    with pytest.raises(SystemExit) as exc:
        cli_main.main(["boom"])
    assert exc.value.code == 3
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and err.startswith("Error: cannot reach the API server")


def test_unexpected_exception_has_no_traceback(monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    @click.command("crash")
    def crash() -> None:
        raise KeyError("x")

    monkeypatch.setitem(cli_main.COMMANDS, "crash", (__name__, "_crash", "test"))
    globals()["_crash"] = crash
    with pytest.raises(SystemExit) as exc:
        cli_main.main(["crash"])
    assert exc.value.code == 1
    assert "Traceback" not in capsys.readouterr().err
