"""``falcoctl-py engine run``: replay to Falco JSON on stdout, exit codes, and the server-mode config contract."""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import orjson
import pytest
from cli_support import run

from falcoctl_py.cli import engine as engine_cli

REPO = Path(__file__).resolve().parents[3]


def run_main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Run the CLI edge as the console script does: (exit code, stdout, stderr)."""
    return run(capsys, *argv)


@pytest.fixture
def audit_rules(upstream_rules: Path) -> Path:
    return upstream_rules / "k8s_audit_rules.yaml"


def test_replay_prints_one_falco_alert_per_line(audit_rules: Path, conformance: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    events = conformance / "k8saudit" / "events" / "create_nginx_pod_privileged.json"
    code, out, err = run_main(["engine", "run", "--rules", str(audit_rules), "--events", str(events),
                               "-o", "json"], capsys)
    assert code == 0, err
    docs = [orjson.loads(line) for line in out.splitlines()]
    assert [d["rule"] for d in docs] == ["Create Privileged Pod"]
    assert docs[0]["time"] == "2018-10-25T14:09:12.581541000Z"
    assert docs[0]["priority"] == "Warning" and docs[0]["source"] == "k8s_audit"
    assert docs[0]["output_fields"]["ka.req.pod.containers.image"]


def test_text_output(audit_rules: Path, conformance: Path, capsys: pytest.CaptureFixture[str]) -> None:
    events = conformance / "k8saudit" / "events" / "create_nginx_pod_privileged.json"
    code, out, _ = run_main(["engine", "run", "--rules", str(audit_rules), "--events", str(events)], capsys)
    assert code == 0
    assert out.startswith("14:09:12.581541000: Warning ")


def test_non_audit_input_names_file_and_line(audit_rules: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"kind":"Pod"}\n')
    code, out, err = run_main(["engine", "run", "--rules", str(audit_rules), "--events", str(bad)], capsys)
    assert code == 1 and out == ""
    assert err.strip() == f"Error: {bad}:1: data not recognized as a k8s audit event"


def test_bad_rules_print_findings_and_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "bad.yaml"
    rules.write_text("- rule: r\n  desc: d\n  condition: ka.verb = create and (\n  output: o\n"
                     "  priority: WARNING\n  source: k8s_audit\n")
    events = tmp_path / "e.json"
    events.write_text('{"kind":"Event","auditID":"a","stageTimestamp":"2024-01-01T00:00:00Z"}')
    code, out, err = run_main(["engine", "run", "--rules", str(rules), "--events", str(events)], capsys)
    assert code == 1 and out == ""
    assert "LOAD_ERR" in err and "rules failed to load" in err and "Traceback" not in err


@pytest.mark.parametrize("argv, message", [
    (["--events", "/nonexistent/events.json"], "events file not found"),
    (["--events", str(REPO / "tests")], f"events path is not a file: {REPO / 'tests'}"),
    (["--source", "k8s_audit", "--backend", "proc"], "--backend applies to --source syscall"),
    (["--events", "x", "--webhook-listen", "0.0.0.0:1"], "cannot be combined"),
    (["--events", __file__, "--record", "capture.bin"], "cannot be combined"),
    (["--record", "capture.bin"], "--record applies to --source syscall"),
    (["--rules", "/nonexistent/rules.yaml", "--events", __file__], "rules file not found"),
])
def test_usage_errors_exit_2(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(["engine", "run", *argv], capsys)
    assert code == 2, err
    assert message in err and err.count("\n") == 1


@pytest.fixture
def fake_service(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    module = types.ModuleType("engine.service")

    def serve(config: dict[str, Any]) -> int:
        calls.append(config)
        return 7

    module.serve = serve  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "engine.service", module)
    return calls


def test_webhook_mode_builds_the_config_and_passes_serve_exit_code(
        fake_service: list[dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "r.yaml"
    rules.write_text("[]\n")
    code, _, _ = run_main(["engine", "run", "--rules", str(rules), "--webhook-listen", "127.0.0.1:9765",
                           "--metrics-listen", "127.0.0.1:8765", "-o", "json", "--priority", "notice"], capsys)
    assert code == 7
    (config,) = fake_service
    assert config["rules"] == [str(rules)]
    assert config["sources"] == {"k8s_audit": {"webhook": {"listen": "127.0.0.1:9765", "path": "/k8s-audit"}}}
    assert config["metrics"] == {"listen": "127.0.0.1:8765"}
    assert config["outputs"] == {"stdout": {"format": "json"}}
    assert (config["priority"], config["rule_matching"]) == ("notice", "first")


def test_config_file_is_the_base_and_flags_win(fake_service: list[dict[str, Any]], tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "engine.yaml"
    cfg.write_text("rules: [/etc/falco-py/rules.yaml]\nsources:\n  k8s_audit:\n    webhook:\n"
                   "      listen: 0.0.0.0:9765\n      token_file: /t\nmetrics: {listen: 0.0.0.0:8765}\n"
                   "priority: warning\n")
    code, _, _ = run_main(["engine", "run", "--config", str(cfg), "--webhook-listen", "127.0.0.1:1"], capsys)
    assert code == 7
    (config,) = fake_service
    assert config["rules"] == ["/etc/falco-py/rules.yaml"]
    webhook = config["sources"]["k8s_audit"]["webhook"]  # validated and defaulted by engine.config
    assert (webhook["listen"], webhook["token_file"], webhook["path"]) == ("127.0.0.1:1", "/t", "/k8s-audit")
    assert config["priority"] == "warning"


def test_syscall_mode(fake_service: list[dict[str, Any]], tmp_path: Path,
                      capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "r.yaml"
    rules.write_text("[]\n")
    code, _, _ = run_main(["engine", "run", "--rules", str(rules), "--source", "syscall", "--backend", "proc"],
                          capsys)
    assert code == 7
    assert fake_service[0]["sources"] == {"syscall": {"backend": "proc"}}


def test_record_flag_names_the_capture_file_over_the_config(fake_service: list[dict[str, Any]], tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "engine.yaml"
    cfg.write_text("rules: [/etc/falco-py/rules.yaml]\nsources:\n  syscall:\n    backend: ebpf\n    record: /var/old.bin\n")
    capture = tmp_path / "capture.bin"
    code, _, _ = run_main(["engine", "run", "--config", str(cfg), "--source", "syscall", "--record", str(capture)],
                          capsys)
    assert code == 7
    syscall = fake_service[0]["sources"]["syscall"]
    assert (syscall["backend"], syscall["record"]) == ("ebpf", str(capture))


def test_bad_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("rules: [a\n")
    code, _, err = run_main(["engine", "run", "--config", str(cfg), "--rules", str(cfg)], capsys)
    assert code == 1 and f"{cfg}:" in err and "invalid YAML" in err
    cfg.write_text("sources:\n  k8s_audit:\n    webhook:\n      lisen: 0.0.0.0:1\n")
    code, _, err = run_main(["engine", "run", "--config", str(cfg), "--rules", str(cfg)], capsys)
    assert code == 1 and "lisen" in err and f"{cfg}:4" in err and "invalid engine config" in err


@pytest.mark.parametrize("argv, flag, value", [
    (["--webhook-listen", "nope", "--metrics-listen", "127.0.0.1:18902"], "--webhook-listen", "nope"),
    (["--webhook-listen", "127.0.0.1:99999"], "--webhook-listen", "127.0.0.1:99999"),
    (["--webhook-listen", "127.0.0.1:0"], "--webhook-listen", "127.0.0.1:0"),
    (["--metrics-listen", "127.0.0.1:99999", "--events", __file__], "--metrics-listen", "127.0.0.1:99999"),
    (["--metrics-listen", "[::1]"], "--metrics-listen", "[::1]"),
])
def test_bad_listen_flags_are_usage_errors_before_anything_starts(
        argv: list[str], flag: str, value: str, fake_service: list[dict[str, Any]],
        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(["engine", "run", *argv], capsys)
    assert code == 2 and out == "" and fake_service == []
    assert f"Invalid value for '{flag}': expected HOST:PORT (port 1-65535), got {value!r}" in err
    assert "does not match" not in err and "Traceback" not in err


def test_listen_flags_accept_host_port_forms(fake_service: list[dict[str, Any]], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "r.yaml"
    rules.write_text("[]\n")
    code, _, err = run_main(["engine", "run", "--rules", str(rules), "--webhook-listen", "[::1]:65535",
                             "--metrics-listen", ":1"], capsys)
    assert code == 7, err
    assert fake_service[0]["metrics"] == {"listen": ":1"}


def test_non_utf8_config_file_is_a_clean_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "garbage.bin"
    cfg.write_bytes(bytes([0xD3, 0x8F, 0xFF, 0x00, 0x81]) * 40)
    code, out, err = run_main(["engine", "run", "--config", str(cfg)], capsys)
    assert code == 1 and out == ""
    assert f"{cfg}: cannot read config: not UTF-8 text" in err and f"invalid engine config {cfg}" in err
    assert "internal error" not in err and "UnicodeDecodeError" not in err


def test_engine_command_imports_no_deployment_stack() -> None:
    code = ("import sys; from falcoctl_py.cli import engine; import engine.runtime, engine.sources.replay;"
            "heavy = [m for m in ('kubernetes', 'rich', 'falcoctl_py.helm', 'jsonschema', 'prometheus_client')"
            " if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert engine_cli.group.name == "engine"


def test_audit_rules_cover_what_the_loaded_rules_need(upstream_rules: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """The host rules for the read-only audit mode: one exit,always rule keyed falcopy whose syscalls are the ones
    the loaded rules need (the process lifecycle included), and nothing for a rule that needs no syscall."""
    from engine.rules import load_rules
    from engine.sources.syscall.linux_audit.backend import syscalls_for
    from engine.sources.syscall.linux_audit.syscalls import X86_64

    files = [upstream_rules / "falco_rules.yaml"]
    code, out, _ = run_main(["engine", "audit-rules", "--rules", str(files[0])], capsys)
    (rule,) = [line for line in out.splitlines() if not line.startswith("#")]
    head, _, tail = rule.partition(" -S ")
    assert code == 0 and head == "-a always,exit -F arch=b64"
    names, _, key = tail.partition(" -k ")
    ruleset = load_rules(files).ruleset
    assert ruleset is not None and key == "falcopy"
    assert {X86_64[n] for n in names.split(",")} == syscalls_for(ruleset.evttypes_needed("syscall"))
    assert {"execve", "exit_group", "openat", "connect"} <= set(names.split(","))
    bad = tmp_path / "bad.yaml"
    bad.write_text("- rule: r\n  desc: d\n  condition: evt.type = open and\n  output: o\n  priority: INFO\n")
    code, _, err = run_main(["engine", "audit-rules", "--rules", str(bad)], capsys)
    assert code == 1 and "bad.yaml" in err
