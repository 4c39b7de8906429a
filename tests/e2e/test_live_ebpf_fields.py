"""Fields the upstream rules read, filled on the ebpf backend as Falco fills them (``<NA>`` only where Falco has none).

The field list is not written here: it is every field the conditions (exceptions included, macros expanded) and
outputs of ``falco_rules.yaml`` and ``falco-incubating_rules.yaml`` read, paired with the event types of the rule
that reads it. ``fill_actions.py`` makes each of those event types happen for real (opens of every kind, execs
with and without a terminal, from an fd and from memfd, TCP and UDP over IPv4 and IPv6, unix sockets, renames,
links, chmods, setuid, ptrace, dup, bpf, setns, unshare, module loads); every captured event of a rule's type is
checked, field by field, against ``falco_fill`` (when Falco gives a value). A field this table has no answer for
is a failure too, named with its event type. Needs root, BTF and the built probe; run it under the kernel lock.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
from bpf_support import capturing
from falco_fill import FD_EVENTS, OPENS, Context, expected

REPO = Path(__file__).resolve().parents[2]
OBJECT = REPO / "engine/sources/syscall/ebpf/probe.bpf.o"
ACTIONS = Path(__file__).with_name("fill_actions.py")
RULES = ("falco_rules.yaml", "falco-incubating_rules.yaml")
O_DIRECTORY = 0o200000
pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not Path("/sys/kernel/btf/vmlinux").exists() or not OBJECT.exists()
    or shutil.which("bpftool") is None, reason="needs root, kernel BTF, bpftool and the built probe")
# The steps whose socket events are of one known kind (other steps' sockets belong to tools we do not control).
SOCKET_STEPS = {"inet4": "inet", "inet6": "inet", "unix": "unix"}
SOCKET_TYPES = frozenset({"socket", "bind", "connect", "listen", "accept", "accept4", "sendto", "sendmsg",
                          "recvfrom", "recvmsg"})


def rule_fields(ruleset: Any) -> dict[str, dict[str, Any]]:
    """event type -> {field as written: (spec, arg)} for every field a syscall rule of that type reads."""
    from engine.condition.ast import FieldRef
    from engine.condition.resolve import resolve_field
    from engine.condition.walk import field_refs
    from engine.fields import fields_for_source

    table = fields_for_source("syscall")
    out: dict[str, dict[str, Any]] = defaultdict(dict)
    for rule in ruleset.rules:
        if rule.source != "syscall":
            continue
        refs = list(field_refs(rule.ast)) if rule.ast is not None else []
        for text in rule.formatter.field_names:
            name, _, arg = text.partition("[")
            refs.append(FieldRef(name, arg[:-1] if arg else None))
        assert rule.evttypes, f"rule {rule.name!r} is not restricted to event types"
        for ref in refs:
            key = ref.name + (f"[{ref.arg}]" if ref.arg is not None else "")
            for evt in rule.evttypes:
                out[evt][key] = resolve_field(ref, table)
    return out


def _chain(pid: int) -> list[int]:
    """``pid`` and its ancestors, from /proc (pid 0 is not a process)."""
    chain = [pid]
    while pid > 1:
        stat = Path(f"/proc/{pid}/stat").read_text()
        pid = int(stat.rsplit(")", 1)[1].split()[1])
        if pid > 0:
            chain.append(pid)
    return chain


def _ancestors(pid: int) -> int:
    """How many ancestors ``pid`` has (pid 1 counted)."""
    return len(_chain(pid)) - 1


@pytest.fixture(scope="module")
def captured(tmp_path_factory: pytest.TempPathFactory, upstream_rules: Path) -> dict[str, Any]:
    from engine.rules import load_rules
    from engine.sources.syscall.ebpf.backend import EbpfBackend

    result = load_rules([upstream_rules / name for name in RULES])
    assert result.successful
    ruleset = result.ruleset
    fields = rule_fields(ruleset)
    work = tmp_path_factory.mktemp("fill")
    backend = EbpfBackend(frozenset(fields) | {"mkdir", "memfd_create"})
    events: list[Any] = []
    with capturing(backend, events.extend) as capture:
        done = subprocess.run([sys.executable, str(ACTIONS), str(work)], capture_output=True, text=True,
                              timeout=60, check=False)
    failures, stats = capture.failures, capture.stats
    assert done.returncode == 0 and not failures, (done.stderr, failures)
    steps = json.loads(done.stdout.splitlines()[-1])
    assert all(pid > 0 for pid in steps.values()), (steps, done.stderr)
    return {"events": events, "steps": steps, "fields": fields, "ruleset": ruleset, "stats": stats,
            "base": _ancestors(os.getpid()),
            # Falco looks for the session leader among the process's ancestors: this test's own session has its
            # leader there only when no process between them has exited (a reparented job has lost it)
            "sid": os.getsid(0), "sid_in_chain": os.getsid(0) in _chain(os.getpid()),
            "loginuid_set": Path("/proc/self/loginuid").read_text().strip() not in ("", "4294967295")}


def _step_and_depth(event: Any, steps: dict[str, int]) -> tuple[str, int] | None:
    """The step an event's process belongs to, and how many generations below this test process it is."""
    by_pid = {pid: name for name, pid in steps.items()}
    proc, hops, step = event.proc, 0, None
    while proc is not None and hops < 16:
        step = step or by_pid.get(proc.pid)
        if proc.pid == os.getpid():
            return (step, hops) if step else None
        proc, hops = proc.parent, hops + 1
    return None


def _fd_kind(event: Any, step: str) -> str | None:
    """The kind of descriptor the action used, from the action itself (None: not one we know)."""
    etype = event.type
    if etype not in FD_EVENTS:
        return "none"
    if etype in OPENS:
        if event.res is None or event.res < 0:
            return "failed-open"
        return "directory" if event.args.get("flags", 0) & O_DIRECTORY else "file"
    if etype in SOCKET_TYPES:
        kind = SOCKET_STEPS.get(step)
        if kind == "inet":
            return {"socket": "new-socket", "bind": "inet-server", "listen": "inet-server"}.get(etype, "inet")
        return kind
    if etype in ("dup", "dup2", "dup3", "fchmod"):
        return "file" if step == "files" else None
    if etype in ("setns", "finit_module"):
        return "file" if step == "process" else None
    if etype in ("bpf", "memfd_create"):
        return "other"
    return None


def _context(event: Any, captured: dict[str, Any]) -> tuple[str, Context] | None:
    """The step behind an event and what the test knows of it (None: not an event of ours, or of a kind the
    actions do not pin down)."""
    where = _step_and_depth(event, captured["steps"])
    if where is None or event.type not in captured["fields"]:
        return None
    step, depth = where
    kind = _fd_kind(event, step)
    if kind is None:
        return None
    # a session made below this test (the pty step's) has its leader between the test and the event's process
    sid = event.proc.sid if event.proc is not None else 0
    leader_known = captured["sid_in_chain"] if sid == captured["sid"] else sid > 0
    return step, Context(event.type, kind, captured["base"] + depth, captured["loginuid_set"], leader_known)


@pytest.fixture(scope="module")
def checked(captured: dict[str, Any]) -> dict[str, Any]:
    """Every (event, field) pair checked: counts per field and the mismatches."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    wrong: dict[tuple[str, str], list[str]] = defaultdict(list)
    types_seen: set[str] = set()
    for event in captured["events"]:
        known = _context(event, captured)
        if known is None:
            continue
        step, ctx = known
        kind = ctx.fd_kind
        types_seen.add(event.type)
        for name, (spec, arg) in captured["fields"][event.type].items():
            want = expected(name, ctx)
            try:
                value = spec.extract(event, arg)
            except Exception as exc:  # noqa: BLE001 - an extractor that raises is a failure, named
                wrong[(name, event.type)].append(f"raised {exc!r}")
                continue
            filled = value is not None and value != [] and value != ()
            if want is None:
                wrong[(name, event.type)].append("no Falco semantics recorded for this field")
            elif want != filled:
                wrong[(name, event.type)].append(
                    f"{'filled' if filled else '<NA>'} ({value!r}) where Falco gives "
                    f"{'a value' if want else '<NA>'} [{step}, {kind}, {event.proc.exepath if event.proc else ''}]")
            else:
                counts[name]["filled" if filled else "na"] += 1
    return {"counts": counts, "wrong": wrong, "types_seen": types_seen}


def test_every_event_type_the_rules_use_was_exercised(captured: dict[str, Any], checked: dict[str, Any]) -> None:
    # Kernel module loading is not built into every kernel (the calls then fail with ENOSYS, still events).
    missing = sorted(set(captured["fields"]) - checked["types_seen"])
    assert not missing, f"no captured event of the rules' types {missing}"
    assert captured["stats"].dropped == 0


def test_fields_are_filled_as_falco_fills_them(checked: dict[str, Any]) -> None:
    wrong = checked["wrong"]
    report = [f"{name} on {etype}: {reasons[0]} (x{len(reasons)})" for (name, etype), reasons in sorted(wrong.items())]
    assert not report, "\n".join(report)


def test_every_field_the_rules_read_was_checked(captured: dict[str, Any], checked: dict[str, Any]) -> None:
    every = {name for per_type in captured["fields"].values() for name in per_type}
    unchecked = sorted(every - set(checked["counts"]) - {name for name, _ in checked["wrong"]})
    assert not unchecked, f"fields no event checked: {unchecked}"


def test_alerts_carry_their_output_fields(captured: dict[str, Any]) -> None:
    """The rules the actions trigger fire, and each alert's output has a value exactly where Falco has one."""
    ruleset = captured["ruleset"]
    fired: dict[str, int] = Counter()
    wrong = []
    for event in captured["events"]:
        known = _context(event, captured)
        if known is None:
            continue
        for rule in ruleset.evaluate(event):
            fired[rule.name] += 1
            _, output = rule.formatter.format(event)
            wrong += [(rule.name, key, value) for key, value in output.items()
                      if expected(key, known[1]) is not (value is not None)]
    assert {"Read sensitive file untrusted", "Fileless execution via memfd_create",
            "PTRACE attached to process"} <= set(fired), sorted(fired)
    assert not wrong, wrong


def test_values_match_the_actions(captured: dict[str, Any]) -> None:
    """Beyond filled or not: both ends of IPv6 connections, a datagram's destination, the executable's times."""
    def values(step: str, etype: str, *names: str) -> set[tuple[object, ...]]:
        from engine.condition.ast import FieldRef
        from engine.condition.resolve import resolve_field
        from engine.fields import fields_for_source
        specs = [resolve_field(FieldRef(n), fields_for_source("syscall")) for n in names]
        return {tuple(str(spec.extract(e, arg)) for spec, arg in specs) for e in captured["events"]
                if e.type == etype and e.pid == captured["steps"][step]}

    assert values("inet6", "connect", "fd.cip", "fd.sip") == {("::1", "::1")}
    assert values("inet4", "sendto", "fd.sip") == {("127.0.0.1",)}  # TCP send, UDP sendto: the loopback peer
    assert ("::1",) in values("inet6", "sendto", "fd.sip") and ("::",) not in values("inet6", "sendto", "fd.sip")
    for step, loopback in (("inet4", "127.0.0.1"), ("inet6", "::1")):  # the peer named in the msghdr
        assert values(step, "sendmsg", "fd.sip") == {(loopback,)}
    cat = os.stat(shutil.which("cat") or "cat")
    execs = [e for e in captured["events"] if e.type == "execve" and e.proc is not None and e.proc.name == "cat"
             and _step_and_depth(e, captured["steps"]) is not None]
    assert execs and {(e.proc.exe_ino_ctime, e.proc.exe_ino_mtime) for e in execs} == {
        (cat.st_ctime_ns, cat.st_mtime_ns)}
    if shutil.which("script"):  # the cat script runs on a new pseudo-terminal has it; the other has ours (if any)
        ours = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[4])
        ttys = {tuple(e.proc.args): e.proc.tty for e in execs}
        assert ttys[("/etc/shadow",)] == ours and ttys[("/etc/hostname",)] >> 8 == 136, ttys  # 136: /dev/pts
        assert ttys[("/etc/hostname",)] != ours


def test_report(captured: dict[str, Any], checked: dict[str, Any]) -> None:
    """Not a check: the per-field counts (``pytest -s`` shows them)."""
    every = sorted({name for per_type in captured["fields"].values() for name in per_type})
    for name in every:
        c = checked["counts"].get(name, Counter())
        print(f"{name:45} filled={c['filled']:5} na-as-falco={c['na']:5}")
    print(f"{len(every)} fields, {len(captured['fields'])} event types")
