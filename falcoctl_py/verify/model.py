"""The suite language checked and typed: one concrete test description in, a frozen ``Test`` out.

Owns: every rule of the language reference's loader — the keys each object accepts (an unknown key is an error,
never ignored), required keys, ``runner: HostRunner``, a non-empty ``rule`` (verify matches alerts by it),
unique resource and step names, ``capabilities`` only on the leaf process, reserved environment names, syscall
names and arguments (``syscall_specs``), field bindings ``${name.field}`` that point backwards at something that
exposes that field, and ``runIf`` conditions. Each error is a ``SuiteError`` naming file:line, test and key.

Must not: run anything or touch the host.
"""

from __future__ import annotations

import platform
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from falcoctl_py.verify import syscall_specs as specs
from falcoctl_py.verify.suite_yaml import Located, SuiteError
from falcoctl_py.verify.templates import Concrete

BINDING = re.compile(r"^\s*\$\{\s*([A-Za-z0-9_-]+)\.([A-Za-z0-9_.]+)\s*\}\s*$")
RESERVED_ENV_PREFIXES = ("FALCO_EVENT_GENERATOR_", "FALCOPY_VERIFY_")
TEST_KEYS = {"name", "runner", "rule", "description", "context", "before", "after", "resources", "steps",
             "expectedOutcome", "runIf"}
PROCESS_KEYS = {"exePath", "args", "exe", "name", "env", "user", "capabilities"}
CONTAINER_KEYS = {"image", "name", "env"}
EXPECTED_KEYS = {"source", "hostname", "priority", "outputFields"}
RESOURCE_KEYS = {
    "clientServer": {"l4Proto", "address"},
    "fd": {"subtype", "filePath", "dirPath", "fileName"},
    "process": {"exePath", "args", "exe", "procName", "env", "fileLess"},
}
FD_SUBTYPES = {"file": "filePath", "directory": "dirPath", "pipe": None, "event": None, "signalfd": None,
               "eventpoll": None, "inotify": None, "memfd": "fileName"}
L4_PROTOS = ("udp4", "udp6", "tcp4", "tcp6", "unix")
GOARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "armv7l": "arm",
          "i686": "386", "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}
DEFAULT_CONTAINER_NAME = "event-generator"
DEFAULT_IMAGE = "docker.io/falcosecurity/event-generator:latest"


@dataclass(frozen=True)
class Binding:
    target: str
    path: str


@dataclass(frozen=True)
class Process:
    exe_path: str | None = None
    args: str = ""
    exe: str | None = None
    name: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    capabilities: str | None = None


@dataclass(frozen=True)
class Container:
    image: str = DEFAULT_IMAGE
    name: str = DEFAULT_CONTAINER_NAME
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Resource:
    type: str
    name: str
    props: dict[str, Any]


@dataclass(frozen=True)
class Step:
    name: str
    syscall: str
    args: dict[str, Any]  # literal values, or Binding


@dataclass(frozen=True)
class Expected:
    source: str | None = None
    hostname: str | None = None
    priority: str | None = None
    output_fields: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Test:
    name: str
    rule: str
    file: Path
    line: int
    description: str = ""
    processes: tuple[Process, ...] = (Process(),)
    container: Container | None = None
    before: str | None = None
    after: str | None = None
    resources: tuple[Resource, ...] = ()
    steps: tuple[Step, ...] = ()
    expected: Expected = Expected()
    run_if: dict[str, Any] | None = None
    case: dict[str, Any] | None = None

    def should_run(self) -> tuple[bool, str]:
        """Whether ``runIf`` holds on this host, and why not."""
        if not self.run_if:
            return True, ""
        arch = GOARCH.get(platform.machine(), platform.machine())
        for key, cond in self.run_if.items():
            actual = {"arch": arch}[key]
            op, val = cond["op"], cond["val"]
            vals = val if isinstance(val, list) else [val]
            holds = {"eq": actual in vals, "ne": actual not in vals, "in": actual in vals,
                     "notIn": actual not in vals}[op]
            if not holds:
                return False, f"runIf {key} {op} {val} is false here ({key}={actual})"
        return True, ""


class _Checker:
    def __init__(self, concrete: Concrete) -> None:
        self.file = concrete.file
        self.test = concrete.name
        self.body = concrete.body

    def fail(self, reason: str, key: str, where: Any = None, sub: str | None = None) -> SuiteError:
        line = where.line_of(sub) if isinstance(where, Located) and sub else (
            where.line if isinstance(where, Located) else self.body.line)
        return SuiteError(reason, file=self.file, line=line, test=self.test, key=key)

    def mapping(self, value: Any, key: str, allowed: set[str], parent: Any = None) -> Located:
        if value is None:
            value = Located()
        if not isinstance(value, Located):
            raise self.fail(f"must be a mapping, got {type(value).__name__}", key, parent, key.rsplit(".", 1)[-1])
        unknown = sorted(set(value) - allowed)
        if unknown:
            raise self.fail(f"unknown key (known: {', '.join(sorted(allowed))})", f"{key}.{unknown[0]}", value,
                            unknown[0])
        return value

    def string(self, value: Any, key: str, where: Any, *, optional: bool = True) -> str | None:
        if value is None and optional:
            return None
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise self.fail(f"must be a string, got {value!r}", key, where, key.rsplit(".", 1)[-1])
        return str(value)

    def env(self, value: Any, key: str, where: Any) -> dict[str, str]:
        if value is None:
            return {}
        env = self.mapping(value, key, set(value) if isinstance(value, Located) else set(), where)
        out = {}
        for name, item in env.items():
            if name.startswith(RESERVED_ENV_PREFIXES) or name == "SUITE":
                raise self.fail("reserved environment variable name (the runner propagates the test id with "
                                "it)", f"{key}.{name}", env, name)
            out[name] = "" if item is None else str(item)
        return out

    def process(self, value: Any, key: str, leaf: bool) -> Process:
        p = self.mapping(value, key, PROCESS_KEYS)
        if p.get("capabilities") is not None and not leaf:
            raise self.fail("capabilities can only be set on the leaf (last) process", f"{key}.capabilities", p,
                            "capabilities")
        return Process(exe_path=self.string(p.get("exePath"), f"{key}.exePath", p),
                       args=self.string(p.get("args"), f"{key}.args", p) or "",
                       exe=self.string(p.get("exe"), f"{key}.exe", p),
                       name=self.string(p.get("name"), f"{key}.name", p),
                       env=self.env(p.get("env"), f"{key}.env", p),
                       user=self.string(p.get("user"), f"{key}.user", p),
                       capabilities=self.string(p.get("capabilities"), f"{key}.capabilities", p))


def _check_run_if(c: _Checker, value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    run_if = c.mapping(value, "runIf", {"arch"})
    out = {}
    for key, cond in run_if.items():
        cond = c.mapping(cond, f"runIf.{key}", {"op", "val"}, run_if)
        if cond.get("op") not in ("eq", "ne", "in", "notIn"):
            raise c.fail(f"unknown operator {cond.get('op')!r} (known: eq, ne, in, notIn)", f"runIf.{key}.op",
                         cond, "op")
        if cond.get("val") is None:
            raise c.fail("a value is required", f"runIf.{key}.val", cond)
        out[key] = {"op": cond["op"], "val": cond["val"]}
    return out


def _check_resource(c: _Checker, value: Any, key: str) -> Resource:
    if not isinstance(value, Located):
        raise c.fail("must be a mapping", key)
    rtype = value.get("type")
    if rtype not in RESOURCE_KEYS:
        raise c.fail(f"unknown resource type {rtype!r} (known: {', '.join(RESOURCE_KEYS)})", f"{key}.type",
                     value, "type")
    r = c.mapping(value, key, RESOURCE_KEYS[rtype] | {"type", "name"})
    name = c.string(r.get("name"), f"{key}.name", r, optional=False)
    props = {k: v for k, v in r.items() if k not in ("type", "name")}
    if rtype == "clientServer":
        if props.get("l4Proto") not in L4_PROTOS:
            raise c.fail(f"must be one of {', '.join(L4_PROTOS)}", f"{key}.l4Proto", r, "l4Proto")
        address = c.string(props.get("address"), f"{key}.address", r) or ""
        if props["l4Proto"] != "unix" and address.rpartition(":")[2] == "":
            raise c.fail(f"expected host:port, got {address!r}", f"{key}.address", r, "address")
    elif rtype == "fd":
        subtype = props.get("subtype")
        if subtype not in FD_SUBTYPES:
            raise c.fail(f"unknown fd subtype {subtype!r} (known: {', '.join(FD_SUBTYPES)})", f"{key}.subtype", r,
                         "subtype")
        needed = FD_SUBTYPES[subtype]
        if needed and not isinstance(props.get(needed), str):
            raise c.fail(f"the {subtype} subtype needs {needed}", f"{key}.{needed}", r)
    else:
        props["env"] = c.env(props.get("env"), f"{key}.env", r)
        if not isinstance(props.get("fileLess", False), bool):
            raise c.fail("must be true or false", f"{key}.fileLess", r, "fileLess")
    return Resource(rtype, str(name), props)


RESOURCE_FIELDS = {"clientServer": frozenset({"client.fd", "server.fd"}), "process": frozenset({"pid"})}
FD_FIELDS = {"pipe": frozenset({"readFd", "writeFd"})}


def _resource_fields(r: Resource) -> frozenset[str]:
    if r.type == "fd":
        return FD_FIELDS.get(str(r.props.get("subtype")), frozenset({"fd"}))
    return RESOURCE_FIELDS[r.type]


def _check_step(c: _Checker, value: Any, key: str, known: dict[str, frozenset[str]]) -> Step:
    s = c.mapping(value, key, {"type", "name", "syscall", "args"})
    if s.get("type") != "syscall":
        raise c.fail(f"unknown step type {s.get('type')!r} (known: syscall)", f"{key}.type", s, "type")
    name = str(c.string(s.get("name"), f"{key}.name", s, optional=False))
    syscall = s.get("syscall")
    if syscall not in specs.SYSCALLS:
        raise c.fail(f"unsupported syscall {syscall!r} (supported: {', '.join(sorted(specs.SYSCALLS))})",
                     f"{key}.syscall", s, "syscall")
    arg_specs = {a.name: a for a in specs.SYSCALLS[syscall][0]}
    args = c.mapping(s.get("args"), f"{key}.args", set(arg_specs), s)
    out: dict[str, Any] = {}
    for arg_name, spec in arg_specs.items():
        where = f"{key}.args.{arg_name}"
        raw = args.get(arg_name)
        if raw is None:
            if not spec.optional and not (spec.bind_only and arg_name in specs.DIR_FDS):
                raise c.fail(f"argument {arg_name} of {syscall} is required", where, args)
            continue
        bound = BINDING.match(raw) if isinstance(raw, str) else None
        if bound:
            target, path = bound.group(1), bound.group(2)
            if target not in known:
                raise c.fail(f"binding ${{{target}.{path}}} names no earlier resource or step", where, args,
                             arg_name)
            if path not in known[target]:
                raise c.fail(f"{target} exposes no field {path!r} (it exposes {', '.join(sorted(known[target]))})",
                             where, args, arg_name)
            out[arg_name] = Binding(target, path)
            continue
        if isinstance(raw, str) and "${" in raw:
            raise c.fail(f"malformed binding {raw!r} (expected ${{name.field}})", where, args, arg_name)
        if spec.bind_only:
            raise c.fail(f"argument {arg_name} of {syscall} takes only a binding (${{name.field}})", where, args,
                         arg_name)
        try:
            if spec.kind in ("int", "fd"):
                out[arg_name] = specs.parse_number(raw)
            elif spec.kind == "how":
                how = c.mapping(raw, where, set(specs.HOW_KEYS), args)
                out[arg_name] = {k: specs.parse_number(v) for k, v in how.items()}
            else:
                out[arg_name] = c.string(raw, where, args)
        except ValueError as exc:
            raise c.fail(str(exc), where, args, arg_name) from None
    return Step(name, str(syscall), out)


def check(concrete: Concrete) -> Test:
    """The typed test for one concrete description (``SuiteError`` on the first broken rule)."""
    c = _Checker(concrete)
    body = c.mapping(concrete.body, "(test)", TEST_KEYS)
    if not isinstance(body.get("name"), str) or not body["name"]:
        raise c.fail("every test needs a name", "name", body)
    if body.get("runner") != "HostRunner":
        raise c.fail(f"runner must be HostRunner, got {body.get('runner')!r}", "runner", body, "runner")
    rule = body.get("rule")
    if not isinstance(rule, str) or not rule.strip():
        raise c.fail("verify needs a non-empty rule (alerts are matched by it)", "rule", body)
    context = c.mapping(body.get("context"), "context", {"processes", "container"}, body)
    raw_procs = context.get("processes")
    if raw_procs is not None and (not isinstance(raw_procs, list) or not raw_procs):
        raise c.fail("must be a non-empty list", "context.processes", context, "processes")
    chain = raw_procs or [None]
    procs = tuple(c.process(p, f"context.processes[{i}]", i == len(chain) - 1) for i, p in enumerate(chain))
    container = None
    if "container" in context and context["container"] is not None:
        raw = c.mapping(context["container"], "context.container", CONTAINER_KEYS, context)
        container = Container(image=c.string(raw.get("image"), "context.container.image", raw) or DEFAULT_IMAGE,
                              name=c.string(raw.get("name"), "context.container.name", raw) or DEFAULT_CONTAINER_NAME,
                              env=c.env(raw.get("env"), "context.container.env", raw))
    known: dict[str, frozenset[str]] = {}
    resources = []
    for i, raw in enumerate(_list(c, body, "resources")):
        r = _check_resource(c, raw, f"resources[{i}]")
        if r.name in known:
            raise c.fail(f"name {r.name!r} is used twice (resource and step names are unique per test)",
                         f"resources[{i}].name", raw, "name")
        known[r.name] = _resource_fields(r)
        resources.append(r)
    steps = []
    for i, raw in enumerate(_list(c, body, "steps")):
        s = _check_step(c, raw, f"steps[{i}]", known)
        if s.name in known:
            raise c.fail(f"name {s.name!r} is used twice (resource and step names are unique per test)",
                         f"steps[{i}].name", raw, "name")
        known[s.name] = specs.exposed_fields(s.syscall)
        steps.append(s)
    exp = c.mapping(body.get("expectedOutcome"), "expectedOutcome", EXPECTED_KEYS, body)
    fields = c.mapping(exp.get("outputFields"), "expectedOutcome.outputFields",
                       set(exp.get("outputFields") or {}), exp)
    expected = Expected(source=c.string(exp.get("source"), "expectedOutcome.source", exp),
                        hostname=c.string(exp.get("hostname"), "expectedOutcome.hostname", exp),
                        priority=c.string(exp.get("priority"), "expectedOutcome.priority", exp),
                        output_fields={k: "" if v is None else _text(v) for k, v in fields.items()})
    return Test(name=body["name"], rule=rule, file=concrete.file, line=body.line,
                description=str(body.get("description") or ""), processes=procs, container=container,
                before=c.string(body.get("before"), "before", body), after=c.string(body.get("after"), "after", body),
                resources=tuple(resources), steps=tuple(steps), expected=expected,
                run_if=_check_run_if(c, body.get("runIf")), case=concrete.case)


def _text(value: Any) -> str:
    if value is True or value is False:
        return "true" if value else "false"
    return str(value)


def _list(c: _Checker, body: Located, key: str) -> list[Any]:
    value = body.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise c.fail("must be a list", key, body, key)
    return value
