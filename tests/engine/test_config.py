"""Engine config: schema checks naming key paths and file:line, defaults from the schema, section semantics."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config import ConfigError, load_config, rules_files, validate_config

GOOD = """\
rules: [/etc/rules/a.yaml]
priority: warning
sources:
  k8s_audit:
    webhook:
      listen: "0.0.0.0:9765"
      token_file: /var/run/token
outputs:
  http:
    url: http://sidekick:2801/
"""


def test_defaults_are_filled_from_the_schema(tmp_path: Path) -> None:
    f = tmp_path / "engine.yaml"
    f.write_text(GOOD)
    cfg = load_config(f)
    web = cfg["sources"]["k8s_audit"]["webhook"]
    assert web == {
        "enabled": True,
        "listen": "0.0.0.0:9765",
        "path": "/k8s-audit",
        "tls_cert_file": None,
        "tls_key_file": None,
        "token_file": "/var/run/token",
        "max_body_bytes": 12 << 20,
        "max_event_bytes": 256 << 10,
        "queue_size": 20000,
    }
    assert "file" not in cfg["sources"]["k8s_audit"] and "syscall" not in cfg["sources"]
    assert cfg["outputs"]["stdout"] == {"enabled": True, "format": "json"}
    assert cfg["outputs"]["http"]["enabled"] is True and cfg["outputs"]["http"]["retries"] == 2
    assert "file" not in cfg["outputs"]
    assert cfg["metrics"] == {"enabled": True, "listen": "0.0.0.0:8765"}
    assert cfg["reload"] == {"watch": True, "interval": 2}
    assert cfg["rule_matching"] == "first" and cfg["priority"] == "warning"


def test_unknown_key_is_named_with_file_and_line(tmp_path: Path) -> None:
    f = tmp_path / "engine.yaml"
    f.write_text(GOOD.replace('      listen: "0.0.0.0:9765"', '      lisen: "0.0.0.0:9765"'))
    with pytest.raises(ConfigError) as err:
        load_config(f)
    assert err.value.problems == [f"{f}:6: sources.k8s_audit.webhook.lisen: unknown key"]


def test_a_syscall_key_the_source_does_not_read_is_refused(tmp_path: Path) -> None:
    """The chart once wrote ``audit_mode`` beside ``backend``, which no code read: the mode it chose never took
    effect. Such a key is an error now, named with its line."""
    f = tmp_path / "engine.yaml"
    f.write_text("rules: [r.yaml]\nsources:\n  syscall:\n    backend: audit\n    audit_mode: multicast\n")
    with pytest.raises(ConfigError) as err:
        load_config(f)
    assert err.value.problems == [f"{f}:5: sources.syscall.audit_mode: unknown key"]
    f.write_text("rules: [r.yaml]\nsources:\n  syscall:\n    backend: audit\n    audit: {mode: multicast}\n")
    assert load_config(f)["sources"]["syscall"]["audit"]["mode"] == "multicast"


def test_every_problem_is_reported(tmp_path: Path) -> None:
    f = tmp_path / "engine.yaml"
    f.write_text(
        "rules: [a.yaml, 3]\nrule_matching: some\nmetrics: {listen: nope}\nbogus: 1\n"
        "outputs:\n  stdout: {format: xml}\n"
    )
    with pytest.raises(ConfigError) as err:
        load_config(f)
    text = str(err.value)
    assert f"{f}:4: bogus: unknown key" in text
    assert f"{f}:3: metrics.listen: expected HOST:PORT (port 0-65535), got 'nope'" in text
    assert f"{f}:6: outputs.stdout.format: 'xml' is not one of json, text" in text
    assert f"{f}:2: rule_matching: 'some' is not one of first, all" in text
    assert f"{f}:1: rules[1]: expected string, got int" in text


def test_semantic_checks() -> None:
    with pytest.raises(ConfigError) as err:
        validate_config(
            {
                "rules": ["r.yaml"],
                "sources": {"k8s_audit": {"file": {}, "webhook": {"tls_cert_file": "c"}}},
                "outputs": {"file": {}},
            }
        )
    assert err.value.problems == [
        "sources.k8s_audit.file.path: required when the audit-log file source is on",
        "sources.k8s_audit.webhook.tls_key_file: tls_cert_file and tls_key_file go together",
        "outputs.file.path: required when the file output is on",
    ]
    with pytest.raises(ConfigError, match="rules: at least one rules file"):
        validate_config({})
    assert validate_config({"rules": ["r"], "outputs": {"file": {"enabled": False}}})["outputs"]["file"] == {
        "enabled": False,
        "path": None,
        "format": "json",
    }


def test_syscall_section_is_open_for_its_owner() -> None:
    cfg = validate_config({"rules": ["r"], "sources": {"syscall": {"backend": "proc", "host_root": "/host"}}})
    section = cfg["sources"]["syscall"]
    assert {k: section[k] for k in ("enabled", "backend", "host_root")} == {
        "enabled": True,
        "backend": "proc",
        "host_root": "/host",
    }
    with pytest.raises(ConfigError, match="sources.syscall.backend: 'kmod' is not one of auto, ebpf, audit, proc"):
        validate_config({"rules": ["r"], "sources": {"syscall": {"backend": "kmod"}}})


def test_bad_yaml_and_non_mapping(tmp_path: Path) -> None:
    f = tmp_path / "c.yaml"
    f.write_text("rules: [a\n")
    with pytest.raises(ConfigError, match=r"c.yaml:2:1: invalid YAML"):
        load_config(f)
    f.write_text("- a\n")
    with pytest.raises(ConfigError, match="config must be a mapping, got list"):
        load_config(f)
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "missing.yaml")


def test_a_non_utf8_file_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    f = tmp_path / "garbage.bin"
    f.write_bytes(b"rules: [\xd3\x8f\xff\x00\x81]\n")
    with pytest.raises(ConfigError) as err:
        load_config(f)
    assert err.value.problems == [f"{f}: cannot read config: not UTF-8 text (byte 10: 0xff)"]


@pytest.mark.parametrize("key", ["metrics", "webhook"])
@pytest.mark.parametrize("value", ["nope", "127.0.0.1:99999", "0.0.0.0:65536", "host:port"])
def test_a_bad_listen_value_reads_as_words_not_a_regex(key: str, value: str) -> None:
    path = "metrics.listen" if key == "metrics" else "sources.k8s_audit.webhook.listen"
    data: dict[str, object] = {"rules": ["r"]}
    if key == "metrics":
        data["metrics"] = {"listen": value}
    else:
        data["sources"] = {"k8s_audit": {"webhook": {"listen": value}}}
    with pytest.raises(ConfigError) as err:
        validate_config(data)
    assert err.value.problems == [f"{path}: expected HOST:PORT (port 0-65535), got {value!r}"]
    for good in ("0.0.0.0:65535", "[::1]:0", ":8765"):
        data = {"rules": ["r"], "metrics": {"listen": good}}
        assert validate_config(data)["metrics"]["listen"] == good


def test_rules_directories_expand_in_name_order(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    for name in ("b.yaml", "a.yml", "c.txt", ".hidden.yaml"):
        (tmp_path / "d" / name).write_text("- list: x\n  items: []\n")
    assert [p.name for p in rules_files([str(tmp_path / "d"), "/x/z.yaml"])] == ["a.yml", "b.yaml", "z.yaml"]
