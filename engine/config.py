"""The engine's configuration file: YAML checked against ``engine/config.schema.json``, defaults filled in.

Owns: reading the config (``load_config(path)``), validating a config dict (``validate_config``) with messages that
name the bad key path (``sources.k8s_audit.webhook.lisen: unknown key``) and, when the YAML is known, its file and
line; filling defaults from the schema's ``default`` keywords (one source of truth); checks the schema cannot
express (a path required when a file output is enabled); and ``rules_files`` (a rules entry may be a directory).

Section semantics: a source or output section that is present is on unless it says ``enabled: false``; an absent
one is off (``outputs.stdout``, ``metrics`` and ``reload`` default to on).

Must not: start anything, read secret files (the components that use them do, at start), or raise anything but
``ConfigError``.
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any, cast

import jsonschema
import yaml

from engine.config_types import EngineConfig

SCHEMA_PATH = Path(__file__).with_name("config.schema.json")


class ConfigError(ValueError):
    """Every problem found in a config; ``str()`` is one line per problem, each naming key path (and file:line)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@functools.cache
def schema() -> dict[str, object]:
    return json.loads(SCHEMA_PATH.read_text())  # type: ignore[no-any-return]


def _fill_defaults(node_schema: dict[str, Any], data: dict[str, Any]) -> None:
    for key, sub in (node_schema.get("properties") or {}).items():
        if key not in data and "default" in sub:
            data[key] = copy.deepcopy(sub["default"])
        if isinstance(data.get(key), dict) and "properties" in sub:
            _fill_defaults(sub, data[key])


def _lines(node: yaml.Node | None, prefix: tuple[Any, ...] = ()) -> dict[tuple[Any, ...], int]:
    """Key path -> 1-based line of every key/item in a composed YAML document."""
    out: dict[tuple[Any, ...], int] = {}
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            path = (*prefix, k.value)
            out[path] = k.start_mark.line + 1
            out.update(_lines(v, path))
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            out[(*prefix, i)] = v.start_mark.line + 1
            out.update(_lines(v, (*prefix, i)))
    return out


def _dotted(path: tuple[Any, ...] | list[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _problems(data: Any) -> list[tuple[tuple[Any, ...], str]]:
    validator = jsonschema.Draft202012Validator(schema())
    found: list[tuple[tuple[Any, ...], str]] = []
    for err in validator.iter_errors(data):
        path = tuple(err.absolute_path)
        if err.validator == "additionalProperties" and isinstance(err.instance, dict):
            known = set(err.schema.get("properties") or {})
            for extra in sorted(set(err.instance) - known, key=str):
                found.append(((*path, extra), "unknown key"))
        elif err.validator == "enum":
            found.append((path, f"{err.instance!r} is not one of {', '.join(map(str, err.validator_value))}"))
        elif err.validator == "type":
            wanted = err.validator_value if isinstance(err.validator_value, list) else [err.validator_value]
            found.append((path, f"expected {' or '.join(wanted)}, got {type(err.instance).__name__}"))
        elif err.validator == "pattern" and "errorMessage" in err.schema:  # the schema's words, not a regex
            found.append((path, f"{err.schema['errorMessage']}, got {err.instance!r}"))
        else:
            found.append((path, err.message))
    return sorted(found, key=lambda p: [str(x) for x in p[0]])


def _semantic(cfg: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    found: list[tuple[tuple[Any, ...], str]] = []
    audit = cfg["sources"].get("k8s_audit") or {}
    if (audit.get("file") or {}).get("enabled") and not audit["file"].get("path"):
        found.append(
            (("sources", "k8s_audit", "file", "path"), "required when the audit-log file source is on")
        )
    web = audit.get("webhook") or {}
    if web.get("enabled") and bool(web.get("tls_cert_file")) != bool(web.get("tls_key_file")):
        found.append(
            (
                ("sources", "k8s_audit", "webhook", "tls_key_file"),
                "tls_cert_file and tls_key_file go together",
            )
        )
    outputs = cfg["outputs"]
    if (outputs.get("file") or {}).get("enabled") and not outputs["file"].get("path"):
        found.append((("outputs", "file", "path"), "required when the file output is on"))
    if (outputs.get("http") or {}).get("enabled") and not outputs["http"].get("url"):
        found.append((("outputs", "http", "url"), "required when the http output is on"))
    follow = cfg.get("follow") or {}
    if follow.get("enabled") and not follow.get("refs"):
        found.append((("follow", "refs"), "required when the rules follower is on"))
    if not cfg["rules"] and not follow.get("enabled"):
        found.append((("rules",), "at least one rules file (or follow.refs) is needed"))
    return found


def validate_config(
    data: object, *, file: str | None = None, lines: dict[tuple[str | int, ...], int] | None = None
) -> EngineConfig:
    """Check ``data`` and return a copy with defaults filled in; raise ``ConfigError`` listing every problem."""
    where = f"{file}: " if file else ""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([f"{where}config must be a mapping, got {type(data).__name__}"])
    problems = _problems(data)
    cfg = copy.deepcopy(data)
    if not problems:
        _fill_defaults(schema(), cfg)
        problems = _semantic(cfg)
    if problems:
        out = []
        for path, msg in problems:
            line = _line_for(lines or {}, path)
            loc = f"{file}:{line}: " if file and line else where
            out.append(f"{loc}{_dotted(path)}: {msg}")
        raise ConfigError(out)
    return cast(EngineConfig, cfg)  # the schema checked every key this type names


def _line_for(lines: dict[tuple[Any, ...], int], path: tuple[Any, ...]) -> int | None:
    for n in range(len(path), 0, -1):  # the key itself, else its closest parent that exists in the file
        if path[:n] in lines:
            return lines[path[:n]]
    return None


def load_config(path: str | Path) -> EngineConfig:
    """Read, validate and default a YAML config file; ``ConfigError`` names file, line and key path."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read config: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            [f"{path}: cannot read config: not UTF-8 text (byte {exc.start}: {exc.object[exc.start]:#04x})"]
        ) from None
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        node = yaml.compose(text, Loader=loader)
        data = yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise ConfigError([f"{where}: invalid YAML: {getattr(exc, 'problem', None) or exc}"]) from None
    return validate_config(data, file=str(path), lines=_lines(node))


def rules_files(entries: list[str]) -> list[Path]:
    """Expand rules entries: a directory contributes its ``*.yaml``/``*.yml`` files in name order."""
    out: list[Path] = []
    for entry in entries:
        p = Path(entry)
        if p.is_dir():
            out.extend(
                sorted(
                    f
                    for f in p.iterdir()
                    if f.suffix in (".yaml", ".yml") and f.is_file() and not f.name.startswith(".")
                )
            )
        else:
            out.append(p)
    return out
