"""Live capture through the ebpf backend with upstream Falco rules loaded unmodified.

Real actions raise the rules Falco raises; the events carry what the audit backend cannot give (thread ids,
a socket's local end, openat2's open_how, the path as the caller wrote it beside the resolved one); nothing stays
loaded after close or after SIGKILL (``bpftool prog show`` before and after). Needs root, BTF and the probe
built by ``make setup``; skipped otherwise.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from bpf_support import capturing, our_programs, settled

REPO = Path(__file__).resolve().parents[2]
OBJECT = REPO / "engine/sources/syscall/ebpf/probe.bpf.o"
pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not Path("/sys/kernel/btf/vmlinux").exists() or not OBJECT.exists()
    or shutil.which("bpftool") is None, reason="needs root, kernel BTF, bpftool and the built probe")
RULES = ("falco_rules.yaml", "falco-incubating_rules.yaml")
OPENAT2 = textwrap.dedent("""
    import ctypes, os, struct, sys
    libc = ctypes.CDLL(None, use_errno=True)
    how = struct.pack("<3Q", os.O_RDONLY | os.O_CLOEXEC, 0, 0x04)  # RESOLVE_NO_SYMLINKS
    fd = libc.syscall(437, -100, b"/etc/hostname", how, len(how))
    sys.exit(0 if fd >= 0 else 1)
""")
DIRFD_CALLS = textwrap.dedent("""
    import os, sys
    d = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
    os.close(os.open("dirfd-file", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=d))
    os.mkdir("dirfd-sub", dir_fd=d)
    os.rename("dirfd-file", "dirfd-renamed", src_dir_fd=d, dst_dir_fd=d)
    os.unlink("dirfd-renamed", dir_fd=d)
""")
THREAD_OPEN = textwrap.dedent("""
    import os, sys, threading
    def work():
        print(threading.get_native_id(), flush=True)
        os.chdir(sys.argv[1])
        open("relative-file", "w").close()
    t = threading.Thread(target=work); t.start(); t.join()
""")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, upstream_rules: Path) -> dict[str, object]:
    from engine.rules import load_rules
    from engine.sources.syscall.ebpf.backend import EbpfBackend

    result = load_rules([upstream_rules / name for name in RULES])
    assert result.successful
    ruleset = result.ruleset
    work = tmp_path_factory.mktemp("ebpf")
    before = settled([])  # what is loaded once programs of earlier tests are freed
    backend = EbpfBackend(ruleset.evttypes_needed("syscall") | {"openat2", "mkdirat", "renameat", "renameat2",
                                                                 "unlinkat"})
    events: list[object] = []
    alerts: list[tuple[str, int]] = []

    def evaluate(batch: list[object]) -> None:
        for event in batch:
            events.append(event)
            alerts.extend((rule.name, event.pid) for rule in ruleset.evaluate(event))  # type: ignore[attr-defined]

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    procs: dict[str, subprocess.Popen[str]] = {}
    with capturing(backend, evaluate) as capture:
        for name, argv in {
            "shadow": ["cat", "/etc/shadow"], "symlink": ["ln", "-s", "/etc/shadow", str(work / "shadow-link")],
            "openat2": [sys.executable, "-c", OPENAT2],
            "thread": [sys.executable, "-c", THREAD_OPEN, str(work)],
            "connect": [sys.executable, "-c", f"import socket; socket.create_connection(('127.0.0.1', {port}))"],
            "dirfd": [sys.executable, "-c", DIRFD_CALLS, str(work)],
            "traversal": ["cat", "/etc/../etc/../etc/hostname"],
            "ordinary": ["ls", str(work)],
        }.items():
            procs[name] = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            procs[name].wait(timeout=20)
    server.close()
    outputs = {}
    for name, proc in procs.items():
        assert proc.stdout is not None
        outputs[name] = proc.stdout.read()
        proc.stdout.close()
    return {"events": events, "alerts": alerts, "pids": {k: p.pid for k, p in procs.items()},
            "thread_tid": int(outputs["thread"].strip() or 0),
            "before": before, "during": capture.during, "after": settled(before), "failures": capture.failures,
            "stats": capture.stats,
            "work": work, "port": port}


def _of(live: dict[str, object], name: str) -> list[object]:
    pid = live["pids"][name]  # type: ignore[index]
    return [e for e in live["events"] if e.pid == pid]  # type: ignore[attr-defined]


@pytest.mark.parametrize(("action", "rule"), [("shadow", "Read sensitive file untrusted"),
                                              ("symlink", "Create Symlink Over Sensitive Files"),
                                              ("traversal", "Directory traversal monitored file read")])
def test_action_raises_falco_rule(live: dict[str, object], action: str, rule: str) -> None:
    assert not live["failures"], live["failures"]
    assert (rule, live["pids"][action]) in live["alerts"]  # type: ignore[index,operator]


def test_ordinary_command_raises_nothing(live: dict[str, object]) -> None:
    assert not [a for a in live["alerts"] if a[1] == live["pids"]["ordinary"]]  # type: ignore[attr-defined,index]


def test_exec_fills_the_process_from_the_kernel(live: dict[str, object]) -> None:
    execs = [e for e in _of(live, "shadow") if e.type == "execve" and e.res == 0]  # type: ignore[attr-defined]
    proc = execs[-1].proc  # type: ignore[attr-defined]
    assert (proc.name, proc.exepath, proc.args, proc.cmdline) == ("cat", shutil.which("cat"), ["/etc/shadow"],
                                                                  "cat /etc/shadow")
    assert proc.uid == 0 and proc.cwd == os.getcwd().rstrip("/") + "/" and proc.ppid == os.getpid()
    assert any(v.startswith("PATH=") for v in proc.env) and proc.cap_effective != 0


def test_thread_id_and_raw_relative_path(live: dict[str, object]) -> None:
    opens = [e for e in _of(live, "thread") if e.type == "openat" and e.fd is not None  # type: ignore[attr-defined]
             and e.fd.nameraw == "relative-file"]
    assert opens, "the thread's relative open was not captured"
    event = opens[0]
    assert event.tid == live["thread_tid"] != event.pid  # type: ignore[attr-defined]
    assert event.fd.name == str(live["work"] / "relative-file")  # type: ignore[attr-defined,operator]
    assert event.args["name"] == "relative-file"  # type: ignore[attr-defined]


def test_connect_has_both_ends(live: dict[str, object]) -> None:
    connects = [e for e in _of(live, "connect") if e.type == "connect"]  # type: ignore[attr-defined]
    fd = connects[0].fd  # type: ignore[attr-defined]
    assert (fd.dip, fd.dport, fd.sip, fd.l4proto) == ("127.0.0.1", live["port"], "127.0.0.1", "tcp")
    assert fd.sport > 0 and fd.name == f"127.0.0.1:{fd.sport}->127.0.0.1:{live['port']}"


def test_openat2_carries_open_how(live: dict[str, object]) -> None:
    opens = [e for e in _of(live, "openat2") if e.type == "openat2"]  # type: ignore[attr-defined]
    assert opens and opens[0].args["name"] == "/etc/hostname"  # type: ignore[attr-defined]
    assert opens[0].args["resolve"] == 0x04 and opens[0].args["flags"] & os.O_CLOEXEC  # type: ignore[attr-defined]


def test_programs_loaded_only_while_running_and_nothing_lost(live: dict[str, object]) -> None:
    assert live["during"] == sorted([*live["before"], "on_exec", "on_exit", "on_fork", "on_sys_exit"])  # type: ignore[list-item]
    assert live["after"] == live["before"]
    assert live["stats"].dropped == 0 and live["stats"].events > 0  # type: ignore[attr-defined]
    assert not Path("/sys/fs/bpf").is_mount() or not any(Path("/sys/fs/bpf").iterdir())


def field(event: object, name: str) -> object:
    """A field's value as the rules see it (``evt.arg.X`` / ``evt.rawarg.X`` take X as the argument)."""
    from engine.fields import lookup
    arg = None
    for prefix in ("evt.arg.", "evt.rawarg."):
        if name.startswith(prefix):
            name, arg = prefix[:-1], name[len(prefix):]
    spec = lookup("syscall", name)
    assert spec is not None, name
    return spec.extract(event, arg)


def test_raw_path_beside_the_resolved_one(live: dict[str, object]) -> None:
    opens = [e for e in _of(live, "traversal") if e.type == "openat"  # type: ignore[attr-defined]
             and e.args["name"].endswith("hostname")]  # type: ignore[attr-defined]
    assert opens
    event = opens[0]
    assert (field(event, "fd.name"), field(event, "fd.nameraw")) == ("/etc/hostname", "/etc/../etc/../etc/hostname")
    assert (field(event, "fs.path.name"), field(event, "fs.path.nameraw")) == (
        "/etc/hostname", "/etc/../etc/../etc/hostname")
    assert field(event, "evt.rawarg.name") == "/etc/../etc/../etc/hostname"


@pytest.mark.parametrize(("etype", "arg", "name"), [
    ("openat", "name", "dirfd-file"), ("mkdirat", "path", "dirfd-sub"), ("unlinkat", "name", "dirfd-renamed")])
def test_dirfd_relative_paths_resolve_against_the_directory(live: dict[str, object], etype: str, arg: str,
                                                             name: str) -> None:
    events = [e for e in _of(live, "dirfd") if e.type == etype and e.args.get(arg) == name]  # type: ignore[attr-defined]
    assert events, [(e.type, e.args) for e in _of(live, "dirfd")]  # type: ignore[attr-defined]
    event, expected = events[0], str(live["work"] / name)  # type: ignore[operator]
    assert event.args["dirfd"] >= 0  # type: ignore[attr-defined]
    assert field(event, "fs.path.name") == expected and field(event, "fs.path.nameraw") == name
    assert field(event, f"evt.arg.{arg}") == expected and field(event, f"evt.rawarg.{arg}") == name
    assert field(event, "evt.abspath") == expected
    if etype == "openat":
        assert (field(event, "fd.name"), field(event, "fd.nameraw")) == (expected, name)


def test_dirfd_relative_rename_has_both_ends(live: dict[str, object]) -> None:
    renames = [e for e in _of(live, "dirfd") if e.type in ("renameat", "renameat2")]  # type: ignore[attr-defined]
    assert renames
    event, work = renames[0], live["work"]
    assert (field(event, "fs.path.source"), field(event, "fs.path.target")) == (
        str(work / "dirfd-file"), str(work / "dirfd-renamed"))  # type: ignore[operator]
    assert (field(event, "fs.path.sourceraw"), field(event, "fs.path.targetraw")) == ("dirfd-file", "dirfd-renamed")


CRASHER = textwrap.dedent("""
    from engine.sources.syscall.ebpf.backend import EbpfBackend
    import time
    backend = EbpfBackend({"openat", "execve"}, scan=False)
    backend.open()
    print("started", flush=True)
    time.sleep(60)
""")


def test_sigkill_leaves_no_program_loaded() -> None:
    before = settled([])  # what is loaded once programs of earlier tests are freed
    child = subprocess.Popen([sys.executable, "-c", CRASHER], stdout=subprocess.PIPE, cwd=REPO)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == b"started"
        assert len(our_programs()) == len(before) + 4
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        if child.stdout is not None:
            child.stdout.close()
    assert settled(before) == before


def engine_run(*prefix: str, env: dict[str, str] | None = None, upstream: Path) -> subprocess.CompletedProcess[str]:
    argv = [*prefix, str(Path(sys.executable).with_name("falcoctl-py")), "engine", "run", "--source", "syscall", "--backend",
            "ebpf", "--rules", str(upstream / "falco_rules.yaml")]
    return subprocess.run(argv, capture_output=True, text=True, cwd=REPO, timeout=60, check=False,
                          env={**os.environ, **(env or {})})


def error_lines(done: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in done.stderr.splitlines() if " INFO " not in line]


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs util-linux setpriv")
def test_without_bpf_capabilities_one_line_exit_4_nothing_loaded(upstream_rules: Path) -> None:
    before = settled([])  # what is loaded once programs of earlier tests are freed
    drop = "-bpf,-perfmon,-sys_admin"
    done = engine_run("setpriv", f"--inh-caps={drop}", f"--bounding-set={drop}", upstream=upstream_rules)
    assert done.returncode == 4, done.stderr
    lines = error_lines(done)
    assert len(lines) == 1 and lines[0].endswith(
        "syscall source (ebpf backend) cannot start: capabilities CAP_BPF and CAP_PERFMON are missing "
        "(or CAP_SYS_ADMIN)"), done.stderr
    assert our_programs() == before


def test_probe_the_kernel_refuses_is_exit_4_and_nothing_loaded(tmp_path: Path, upstream_rules: Path) -> None:
    broken = tmp_path / "probe.bpf.o"
    broken.write_bytes(b"\x7fELF not really an object")
    before = settled([])  # what is loaded once programs of earlier tests are freed
    done = engine_run(env={"FALCOPY_BPF_OBJECT": str(broken)}, upstream=upstream_rules)
    assert done.returncode == 4, done.stderr
    lines = error_lines(done)
    assert len(lines) == 1 and "syscall source (ebpf backend) cannot start: the probe did not load (open " in lines[0]
    assert "Traceback" not in done.stderr and our_programs() == before


def test_no_kernel_btf_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from engine.sources.syscall import SyscallSourceUnavailable, choose_backend
    from engine.sources.syscall.ebpf import backend
    monkeypatch.setattr(backend, "BTF", tmp_path / "vmlinux")
    with pytest.raises(SyscallSourceUnavailable, match=r"the kernel has no BTF \(.*vmlinux is missing; needs "
                                                        r"CONFIG_DEBUG_INFO_BTF\)"):
        choose_backend("ebpf")


RELOADER = textwrap.dedent("""
    import os, socket, sys, time
    from engine.sources.syscall.ebpf.backend import EbpfBackend
    backend = EbpfBackend({"openat"}, scan=False)
    backend.open()
    try:
        assert not backend.update_event_types({"openat"})
        seen = []
        def connect(port):
            s = socket.socket(); s.settimeout(0.2)
            try: s.connect(("127.0.0.1", port))
            except OSError: pass
            s.close()
        os.system(f"{sys.executable} -c 'import socket; s=socket.socket(); s.settimeout(0.2); s.connect_ex((\\"127.0.0.1\\", 9))'")
        before = [e.type for e in backend.events(timeout=0.5)]
        assert backend.update_event_types({"openat", "connect"})
        os.system(f"{sys.executable} -c 'import socket; s=socket.socket(); s.settimeout(0.2); s.connect_ex((\\"127.0.0.1\\", 9))'")
        after = [e.type for e in backend.events(timeout=0.5)]
        print("connect" in before, "connect" in after)
    finally:
        backend.close()
""")


def test_reloaded_ruleset_changes_the_kernel_filter() -> None:
    done = subprocess.run([sys.executable, "-c", RELOADER], capture_output=True, text=True, cwd=REPO, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True"]


def test_the_engine_does_not_capture_its_own_syscalls(tmp_path: Path) -> None:
    from engine.sources.syscall.ebpf.backend import EbpfBackend
    mine, theirs = tmp_path / "read-by-engine", tmp_path / "read-by-child"
    mine.write_text("x")
    theirs.write_text("y")
    backend = EbpfBackend({"openat"}, scan=False)
    names: list[str] = []
    try:
        backend.open()
        mine.read_text()
        subprocess.run(["cat", str(theirs)], check=True, stdout=subprocess.DEVNULL)
        names = [e.args.get("name", "") for e in backend.events(timeout=0.5) if e.type == "openat"]
    finally:
        backend.close()
    assert str(theirs) in names and str(mine) not in names
