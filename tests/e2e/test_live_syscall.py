"""Live syscall capture through the audit backend with upstream Falco rules loaded unmodified.

Real actions on this host must raise the rules Falco raises for them; ordinary commands must raise none; the audit
state must be as before afterwards (also after SIGKILL and a restart); a replay of the recording gives the same
alerts. Needs root and a kernel with audit; skipped otherwise.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from audit_support import audit_snapshot, other_audit_daemon

from engine.sources.base import SourceStats
from engine.sources.replay import ReplaySource

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (audit netlink)")

RULES = ("falco_rules.yaml", "falco-incubating_rules.yaml")
MEMFD_SCRIPT = textwrap.dedent("""
    import os, shutil
    fd = os.memfd_create("payload", 0)
    with open(shutil.which("sleep"), "rb") as src:
        os.write(fd, src.read())
    os.execv(f"/proc/self/fd/{fd}", ["payload", "0.5"])
""")
PTRACE_SCRIPT = textwrap.dedent("""
    import ctypes, os, subprocess, sys, time
    libc = ctypes.CDLL(None, use_errno=True)
    target = subprocess.Popen(["sleep", "5"])
    time.sleep(0.1)
    rc = libc.ptrace(16, target.pid, None, None)  # PTRACE_ATTACH
    os.waitpid(target.pid, 0)
    libc.ptrace(17, target.pid, None, None)  # PTRACE_DETACH
    target.kill(); target.wait()
    sys.exit(0 if rc == 0 else 1)
""")


EBPF_READY = (os.geteuid() == 0 and Path("/sys/kernel/btf/vmlinux").exists()
              and (Path(__file__).resolve().parents[2] / "engine/sources/syscall/ebpf/probe.bpf.o").exists())
BACKENDS = ["audit", pytest.param("ebpf", marks=pytest.mark.skipif(
    not EBPF_READY, reason="needs kernel BTF and the probe built by make setup"))]


def open_backend(name: str, event_types: set[str], work: Path, **kwargs: object) -> object:
    """A not yet started syscall backend of either kind, capturing ``event_types``."""
    if name == "ebpf":
        from engine.sources.syscall.ebpf.backend import EbpfBackend
        return EbpfBackend(event_types, **kwargs)  # type: ignore[arg-type]
    from engine.sources.syscall.linux_audit.backend import AuditBackend
    return AuditBackend(event_types, state_file=work / "audit-state.json", **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def live_run(tmp_path_factory: pytest.TempPathFactory, upstream_rules: Path) -> dict[str, object]:
    """Both backends capture the same actions at once (ebpf where the kernel allows): each backend's alerts are
    kept apart, so the tests compare them pid by pid."""
    from engine.rules import load_rules
    from engine.sources.syscall.record.recorder import Recorder

    result = load_rules([upstream_rules / name for name in RULES])
    assert result.successful, [f.to_dict() for f in result.errors][:3]
    ruleset = result.ruleset
    work = tmp_path_factory.mktemp("live")
    before = audit_snapshot()
    names = ["audit", "ebpf"] if EBPF_READY else ["audit"]
    # audit's events are recorded as JSON lines; the ebpf backend writes its binary capture of the probe's records
    recordings = {"audit": work / "events-audit.jsonl", "ebpf": work / "capture-ebpf.bin"}
    backends = {name: open_backend(name, ruleset.evttypes_needed("syscall"), work,
                                   **({"record": recordings[name]} if name == "ebpf" else {})) for name in names}
    alerts: dict[str, list[tuple[str, int, int]]] = {name: [] for name in names}  # (rule, pid, event num)
    failures: list[BaseException] = []

    def consume(name: str) -> None:
        try:
            with Recorder(recordings[name]) if name == "audit" else contextlib.nullcontext() as recorder:
                for event in backends[name].events():  # type: ignore[attr-defined]
                    if recorder is not None:
                        recorder.write(event)
                    for rule in ruleset.evaluate(event):
                        alerts[name].append((rule.name, event.pid, event.num))
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            failures.append(exc)

    pids: dict[str, list[int]] = {}

    def run(name: str, argv: list[str], **kwargs: object) -> None:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kwargs)  # type: ignore[call-overload]
        proc.wait(timeout=20)
        pids.setdefault(name, []).append(proc.pid)

    shm_binary = Path(f"/dev/shm/falcopy-e2e-{os.getpid()}")
    threads = [threading.Thread(target=consume, args=(name,), daemon=True) for name in names]
    started: list[object] = []
    try:
        for backend in backends.values():
            backend.open()  # type: ignore[attr-defined]
            started.append(backend)
        during = audit_snapshot()
        for thread in threads:
            thread.start()
        time.sleep(0.3)
        secret_dir = work / "keys"
        secret_dir.mkdir()
        (work / "victim").write_bytes(b"x" * 4096)
        run("shadow", ["cat", "/etc/shadow"])
        run("symlink", ["ln", "-s", "/etc/shadow", str(work / "shadow-link")])
        shutil.copy("/bin/true", shm_binary)
        shm_binary.chmod(0o755)
        run("devshm", [str(shm_binary)])
        run("find_keys", ["find", str(secret_dir), "-name", "id_rsa"])
        run("shred", ["shred", str(work / "victim")])
        run("ptrace", [sys.executable, "-c", PTRACE_SCRIPT])
        run("memfd", [sys.executable, "-c", MEMFD_SCRIPT])
        for argv in (["ls", str(work)], ["echo", "hello"], ["cat", "/etc/hostname"], ["date"], ["id"],
                     ["sh", "-c", "true"], ["grep", "root", "/etc/hostname"]):
            run("ordinary", argv)
        time.sleep(1.0)
    finally:
        for backend in started:
            backend.stop()  # type: ignore[attr-defined]
        for thread in threads:
            if thread.ident is not None:
                thread.join(5)
        for backend in started:
            backend.close()  # type: ignore[attr-defined]
        shm_binary.unlink(missing_ok=True)
    return {"alerts": alerts, "pids": pids, "before": before, "during": during, "after": audit_snapshot(),
            "recordings": recordings, "ruleset": ruleset, "failures": failures,
            "stats": {name: b.stats() for name, b in backends.items()}}  # type: ignore[attr-defined]


def rules_for(live_run: dict[str, object], action: str, backend: str = "audit") -> set[str]:
    pids = set(live_run["pids"][action])  # type: ignore[index]
    return {rule for rule, pid, _ in live_run["alerts"][backend] if pid in pids}  # type: ignore[index]


ACTIONS = [
    ("shadow", "Read sensitive file untrusted"),
    ("symlink", "Create Symlink Over Sensitive Files"),
    ("devshm", "Execution from /dev/shm"),
    ("find_keys", "Search Private Keys or Passwords"),
    ("shred", "Remove Bulk Data from Disk"),
    ("ptrace", "PTRACE attached to process"),
    ("memfd", "Fileless execution via memfd_create"),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("action", "rule"), ACTIONS)
def test_action_raises_falco_rule(live_run: dict[str, object], backend: str, action: str, rule: str) -> None:
    assert not live_run["failures"], live_run["failures"]
    assert rule in rules_for(live_run, action, backend), (action, rules_for(live_run, action, backend))


@pytest.mark.skipif(not EBPF_READY, reason="needs kernel BTF and the probe built by make setup")
@pytest.mark.parametrize("action", [a for a, _ in ACTIONS] + ["ordinary"])
def test_ebpf_raises_what_audit_raises(live_run: dict[str, object], action: str) -> None:
    assert rules_for(live_run, action, "ebpf") == rules_for(live_run, action, "audit")


@pytest.mark.parametrize("backend", BACKENDS)
def test_ordinary_commands_raise_nothing(live_run: dict[str, object], backend: str) -> None:
    assert rules_for(live_run, "ordinary", backend) == set()


def test_audit_state_changed_during_and_restored_after(live_run: dict[str, object]) -> None:
    enabled, pid, backlog, rules, wait = live_run["during"]  # type: ignore[misc]
    assert wait == 0
    assert pid == os.getpid() and enabled == 1 and backlog >= 65536
    assert sum(getattr(r, "key", "") == "falcopy" for r in rules) == 1
    stats = live_run["stats"]["audit"]  # type: ignore[index]
    assert isinstance(stats, SourceStats)
    assert stats.detail["skipped_records"] == 0  # the kernel made no PROCTITLE records
    assert stats.events > 0 and stats.bytes > 0
    assert live_run["after"] == live_run["before"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_nothing_lost(live_run: dict[str, object], backend: str) -> None:
    stats = live_run["stats"][backend]  # type: ignore[index]
    assert stats.events > 0 and stats.dropped == 0, stats


@pytest.mark.parametrize("backend", BACKENDS)
def test_replay_of_recording_gives_the_same_alerts(live_run: dict[str, object], backend: str) -> None:
    ruleset = live_run["ruleset"]
    replayed = [(rule.name, event.pid, event.num)
                for event in ReplaySource(live_run["recordings"][backend], name="syscall")  # type: ignore[index]
                for rule in ruleset.evaluate(event)]  # type: ignore[attr-defined]
    assert replayed == live_run["alerts"][backend]  # type: ignore[index]
    assert replayed  # the run did raise alerts


CRASHER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from engine.sources.syscall.linux_audit.backend import AuditBackend
    backend = AuditBackend({"openat", "execve"}, state_file=Path(sys.argv[1]))
    backend.open()
    print("started", flush=True)
    time.sleep(60)
""")


def test_sigkill_then_restart_leaves_no_rule_and_restores_state(tmp_path: Path) -> None:
    from engine.sources.syscall.linux_audit.backend import AuditBackend
    before = audit_snapshot()
    state = tmp_path / "audit-state.json"
    repo = Path(__file__).resolve().parents[2]
    with subprocess.Popen([sys.executable, "-c", CRASHER, str(state)], stdout=subprocess.PIPE, cwd=repo) as child:
        try:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == b"started"
            crashed = audit_snapshot()
            assert any(getattr(r, "key", "") == "falcopy" for r in crashed[3])
            assert len(crashed[3]) == len(before[3]) + 2  # our syscall rule and our PROCTITLE exclusion
            assert state.exists()
        finally:
            child.send_signal(signal.SIGKILL)  # leaving the block closes its pipe and reaps it
    backend = AuditBackend({"openat"}, state_file=state)
    try:
        backend.open()  # recovers what the killed run left, then takes over
        assert audit_snapshot()[1] == os.getpid()
    finally:
        backend.close()
    after = audit_snapshot()
    assert after[3] == before[3]
    assert (after[0], after[2], after[4]) == (before[0], before[2], before[4])
    assert after[1] == before[1]
    assert not state.exists()


# -- containers and pods: a process in a containerd pod cgroup, the pod served by the kmock emulator --------------

from tests.kmock_support import api  # noqa: F401

CGROUP_ROOT = Path("/sys/fs/cgroup/unified")
POD_UID = "6a1f0c9e-2b3d-4e5f-8a7b-9c0d1e2f3a4b"
CONTAINER = "c0ffee" + "12" * 29


def _containerd_cgroup() -> list[Path]:
    """Directories of a containerd pod cgroup (systemd driver), outermost first."""
    slice_ = CGROUP_ROOT / "kubepods.slice" / "kubepods-besteffort.slice"
    pod = slice_ / f"kubepods-besteffort-pod{POD_UID.replace('-', '_')}.slice"
    return [slice_.parent, slice_, pod, pod / f"cri-containerd-{CONTAINER}.scope"]


@pytest.mark.skipif(not (CGROUP_ROOT / "cgroup.procs").exists(), reason="no cgroup2 hierarchy at the test path")
@pytest.mark.parametrize("backend_name", BACKENDS)
async def test_process_in_pod_cgroup_gets_container_and_pod_fields(api: object, tmp_path: Path,  # noqa: F811
                                                                   backend_name: str) -> None:
    import asyncio

    from kubernetes import client, config

    from engine.fields import lookup
    from engine.state.pods import PodIndex, PodWatcher
    from tests.engine.state.test_pods import pod

    api.seed("v1/pods", pod("web-1", uid=POD_UID, container_id=CONTAINER, labels={"app": "web", "tier": "fe"}))  # type: ignore[attr-defined]
    index = PodIndex()
    watcher = PodWatcher(index, "node-a", api_factory=lambda: client.CoreV1Api(
        config.new_client_from_config(config_file=str(api.kubeconfig))), resync=2.0)  # type: ignore[attr-defined]
    created = [d for d in _containerd_cgroup() if not d.exists()]
    backend: Any = open_backend(backend_name, {"execve"}, tmp_path, containers=index.container, watcher=watcher)
    events: list[object] = []
    try:
        for directory in created:
            directory.mkdir()
        backend.open()
        for _ in range(200):
            if index.container(CONTAINER[:12]).pod_name:  # type: ignore[union-attr]
                break
            await asyncio.sleep(0.05)
        procs = _containerd_cgroup()[-1] / "cgroup.procs"

        def collect() -> None:  # decoding runs while the process lives, as in a real run
            for event in backend.events(timeout=1.5):
                if event.type == "execve" and event.proc is not None and event.proc.name == "sleep":
                    events.append(event)

        collector = asyncio.create_task(asyncio.to_thread(collect))
        await asyncio.sleep(0.2)
        child = await asyncio.to_thread(subprocess.run, ["sh", "-c", f"echo $$ > {procs}; exec sleep 1"],
                                        timeout=20)
        assert child.returncode == 0
        await collector
    finally:
        backend.stop()
        await asyncio.to_thread(backend.close)
        for directory in reversed(created):
            directory.rmdir()
    assert events, "no execve of the process moved into the pod cgroup"
    event = events[-1]

    def field(name: str) -> object:
        spec = lookup("syscall", name)
        assert spec is not None, name
        return spec.extract(event, None)

    assert field("container.id") == CONTAINER[:12]
    assert field("k8s.pod.name") == "web-1" and field("k8s.ns.name") == "shop"
    assert field("k8s.pod.uid") == POD_UID
    labels = lookup("syscall", "k8s.pod.label")
    assert labels is not None and labels.extract(event, "tier") == "fe"
    assert not any(d.exists() for d in created)


def test_other_audit_daemon_keeps_ownership_and_we_read_multicast(tmp_path: Path) -> None:
    from engine.sources.syscall.linux_audit.backend import AuditBackend
    before = audit_snapshot()
    backend = AuditBackend({"openat"}, state_file=tmp_path / "state.json")
    seen: list[int] = []
    with other_audit_daemon() as daemon:
        try:
            backend.open()
            assert backend.mode == "multicast" and audit_snapshot()[1] == daemon.pid
            reader = subprocess.Popen(["cat", "/etc/hostname"], stdout=subprocess.DEVNULL)
            reader.wait()
            for event in backend.events(timeout=1.0):
                if event.type == "openat" and event.args.get("name") == "/etc/hostname":
                    seen.append(event.pid)
        finally:
            backend.stop()
            backend.close()
        owner_after = audit_snapshot()[1]
    assert reader.pid in seen
    assert backend.skipped_records > 0  # auditd's PROCTITLE records are left alone: we only skip them
    assert owner_after == daemon.pid  # we never took the audit pid from its owner
    assert not [r for r in audit_snapshot()[3] if getattr(r, "key", "") == "falcopy"]
    after = audit_snapshot()
    assert (after[0], after[2], after[4]) == (before[0], before[2], before[4])


def test_reloaded_ruleset_changes_the_audited_syscalls_without_a_gap(tmp_path: Path) -> None:
    from engine.sources.syscall.linux_audit.backend import AuditBackend
    from engine.sources.syscall.linux_audit.syscalls import X86_64
    before = audit_snapshot()
    backend = AuditBackend({"openat"}, state_file=tmp_path / "state.json")
    try:
        backend.open()
        assert not backend.update_event_types({"openat"})
        assert backend.update_event_types({"openat", "connect"})
        ours = [r for r in audit_snapshot()[3] if getattr(r, "key", "") == "falcopy"]
        assert len(ours) == 1 and X86_64["connect"] in ours[0].syscalls  # type: ignore[attr-defined]
    finally:
        backend.close()
    assert audit_snapshot() == before


@pytest.mark.skipif(not (CGROUP_ROOT / "cgroup.procs").exists(), reason="no cgroup2 hierarchy at the test path")
@pytest.mark.parametrize("backend_name", BACKENDS)
def test_executable_written_into_an_overlay_is_on_the_upper_layer(tmp_path: Path, backend_name: str) -> None:
    """A container process running a binary copied into its overlay after start (the upper layer) gets
    ``proc.is_exe_upper_layer`` true; one shipped in the image gets ``proc.is_exe_lower_layer``. The layers share one
    filesystem, as with containerd's overlay snapshotter, so overlayfs gives every file the same device."""
    from engine.fields import lookup

    base = tmp_path / "layers"
    base.mkdir()
    lower, upper, work, merged = (base / name for name in ("lower", "upper", "work", "merged"))
    created = [d for d in _containerd_cgroup() if not d.exists()]
    mounted: list[Path] = []
    backend: Any = open_backend(backend_name, {"execve"}, tmp_path)
    events: dict[str, object] = {}
    try:
        subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(base)], check=True)
        mounted.append(base)
        for directory in (lower, upper, work, merged):
            directory.mkdir()
        shutil.copy(shutil.which("sleep") or "/bin/sleep", lower / "image-sleep")
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                        f"lowerdir={lower},upperdir={upper},workdir={work}", str(merged)], check=True)
        mounted.append(merged)
        shutil.copy(shutil.which("sleep") or "/bin/sleep", merged / "added-sleep")  # lands in the upper layer
        assert (upper / "added-sleep").exists() and not (upper / "image-sleep").exists()
        (merged / "scratch").mkdir()  # a tmpfs mounted inside the container: on no overlay layer at all
        subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(merged / "scratch")], check=True)
        mounted.append(merged / "scratch")
        shutil.copy(shutil.which("sleep") or "/bin/sleep", merged / "scratch" / "scratch-sleep")
        for directory in created:
            directory.mkdir()
        backend.open()
        procs = _containerd_cgroup()[-1] / "cgroup.procs"
        children = [subprocess.Popen(["sh", "-c", f"echo $$ > {procs}; exec {merged / name} 1"])
                    for name in ("added-sleep", "image-sleep", "scratch/scratch-sleep")]
        for event in backend.events(timeout=1.5):  # decoded while the processes live, as in a real run
            if event.type == "execve" and event.proc is not None and event.proc.name.endswith("-sleep"):
                events[event.proc.name] = event
        for child in children:
            assert child.wait(timeout=20) == 0
    finally:
        backend.stop()
        backend.close()
        for point in reversed(mounted):
            subprocess.run(["umount", str(point)], check=False)
        for directory in reversed(created):
            directory.rmdir()
    upper_layer = lookup("syscall", "proc.is_exe_upper_layer")
    lower_layer = lookup("syscall", "proc.is_exe_lower_layer")
    container_id = lookup("syscall", "container.id")
    assert upper_layer is not None and lower_layer is not None and container_id is not None
    assert set(events) == {"added-sleep", "image-sleep", "scratch-sleep"}, events
    assert container_id.extract(events["added-sleep"], None) == CONTAINER[:12]
    assert upper_layer.extract(events["added-sleep"], None) is True
    assert lower_layer.extract(events["added-sleep"], None) is False
    assert upper_layer.extract(events["image-sleep"], None) is False
    assert lower_layer.extract(events["image-sleep"], None) is True
    assert upper_layer.extract(events["scratch-sleep"], None) is False
    assert lower_layer.extract(events["scratch-sleep"], None) is False
    assert not any(d.exists() for d in created)


def test_the_engine_does_not_capture_its_own_syscalls(tmp_path: Path) -> None:
    """Falco leaves itself out; so do we. The kernel never audits the audit pid's own syscalls, but when another
    daemon owns the pid (we read the multicast group) our rule must exclude us: else the engine's /proc reads
    on every exec come back as events."""
    from engine.sources.syscall.linux_audit.backend import AuditBackend
    mine, theirs = tmp_path / "read-by-engine", tmp_path / "read-by-child"
    mine.write_text("x")
    theirs.write_text("y")
    backend = AuditBackend({"openat"}, state_file=tmp_path / "state.json")
    names: list[str] = []
    with other_audit_daemon():
        try:
            backend.open()
            assert backend.mode == "multicast"
            mine.read_text()
            subprocess.run(["cat", str(theirs)], check=True, stdout=subprocess.DEVNULL)
            for event in backend.events(timeout=1.0):
                if event.type == "openat":
                    names.append(event.args.get("name", ""))
        finally:
            backend.close()
    assert str(theirs) in names
    assert str(mine) not in names


def test_read_only_mode_reads_the_host_rules_and_changes_nothing(tmp_path: Path) -> None:
    """``audit.mode: multicast``: the host's audit daemon and its rule keyed ``falcopy`` (no pid left out: the
    host does not know ours) make the records; the engine reads them, leaves its own out by pid, and adds,
    removes and sets nothing — it holds no CAP_AUDIT_CONTROL in that mode."""
    from engine.sources.syscall.linux_audit.backend import AUDIT_KEY, AuditBackend
    from engine.sources.syscall.linux_audit.netlink import AuditRule, AuditSocket
    from engine.sources.syscall.linux_audit.syscalls import AUDIT_ARCH_X86_64, X86_64
    mine, theirs = tmp_path / "read-by-engine", tmp_path / "read-by-child"
    mine.write_text("x")
    theirs.write_text("y")
    host_rule = AuditRule(frozenset({X86_64["openat"], X86_64["execve"]}), AUDIT_ARCH_X86_64, AUDIT_KEY)
    backend = AuditBackend({"openat"}, state_file=tmp_path / "state.json", read_only=True)
    names: list[str] = []
    with other_audit_daemon(enable=True):
        ctl = AuditSocket()
        try:
            ctl.add_rule(host_rule)
            before = audit_snapshot()
            backend.open()
            assert backend.mode == "read-only" and not backend.update_event_types({"openat", "connect"})
            mine.read_text()
            subprocess.run(["cat", str(theirs)], check=True, stdout=subprocess.DEVNULL)
            for event in backend.events(timeout=1.0):
                if event.type == "openat":
                    names.append(event.args.get("name", ""))
            during = audit_snapshot()
        finally:
            backend.close()
            ctl.delete_rule(host_rule)
            ctl.close()
    assert str(theirs) in names
    assert str(mine) not in names
    assert during == before and not (tmp_path / "state.json").exists()


CONNECTOR = textwrap.dedent("""
    import socket, sys, time
    sock = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    print(sock.getsockname()[1], flush=True)
    time.sleep(1.0)  # hold the socket while the engine decodes the connect
""")


@pytest.mark.parametrize("backend_name", BACKENDS)
def test_connect_carries_the_local_end_read_from_the_live_socket(tmp_path: Path, backend_name: str) -> None:
    """Audit logs only where a connect went (the engine reads the socket's own end while the process holds it);
    the ebpf probe reads both ends from the kernel's socket."""
    from engine.fields import lookup
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    backend: Any = open_backend(backend_name, {"connect"}, tmp_path)
    events: list[object] = []
    try:
        backend.open()

        def collect() -> None:
            for event in backend.events(timeout=1.5):
                if event.type == "connect" and event.fd is not None and event.fd.dport == port:
                    events.append(event)

        collector = threading.Thread(target=collect)
        collector.start()
        child = subprocess.run([sys.executable, "-c", CONNECTOR, str(port)], capture_output=True, text=True,
                               timeout=20, check=True)
        collector.join(20)
    finally:
        backend.close()
        server.close()
    local_port = int(child.stdout.strip())
    assert events, "no connect event for the child's connection"

    def field(name: str) -> object:
        spec = lookup("syscall", name)
        assert spec is not None, name
        return spec.extract(events[0], None)

    assert field("fd.name") == f"127.0.0.1:{local_port}->127.0.0.1:{port}"
    assert (field("fd.lport"), field("fd.rport"), field("fd.cport"), field("fd.sport")) == (
        local_port, port, local_port, port)
