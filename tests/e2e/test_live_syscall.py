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
from collections.abc import Iterator
from pathlib import Path

import pytest

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


def audit_snapshot() -> tuple[int, int, int, list[object]]:
    from engine.sources.syscall.linux_audit.netlink import AuditSocket
    sock = AuditSocket()
    try:
        status = sock.get_status()
        return (status.enabled, status.pid, status.backlog_limit, [r for r, _ in sock.list_rules()],
                status.backlog_wait_time)
    finally:
        sock.close()


@pytest.fixture(scope="module")
def live_run(tmp_path_factory: pytest.TempPathFactory, upstream_rules: Path) -> dict[str, object]:
    from engine.rules import load_rules
    from engine.sources.syscall.linux_audit.backend import AuditBackend
    from engine.sources.syscall.record.recorder import Recorder

    result = load_rules([upstream_rules / name for name in RULES])
    assert result.successful, [f.to_dict() for f in result.errors][:3]
    ruleset = result.ruleset
    work = tmp_path_factory.mktemp("live")
    before = audit_snapshot()
    backend = AuditBackend(ruleset.evttypes_needed("syscall"), state_file=work / "audit-state.json")
    alerts: list[tuple[str, int, int]] = []  # (rule, pid, event num)
    recording = work / "events.jsonl"
    failures: list[BaseException] = []

    def consume() -> None:
        try:
            with Recorder(recording) as recorder:
                for event in backend.events():
                    recorder.write(event)
                    for rule in ruleset.evaluate(event):
                        alerts.append((rule.name, event.pid, event.num))
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            failures.append(exc)

    pids: dict[str, list[int]] = {}

    def run(name: str, argv: list[str], **kwargs: object) -> None:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kwargs)  # type: ignore[call-overload]
        proc.wait(timeout=20)
        pids.setdefault(name, []).append(proc.pid)

    shm_binary = Path(f"/dev/shm/falcopy-e2e-{os.getpid()}")
    thread = threading.Thread(target=consume, daemon=True)
    try:
        backend.open()
        during = audit_snapshot()
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
        backend.stop()
        thread.join(5)
        backend.close()
        shm_binary.unlink(missing_ok=True)
    return {"alerts": alerts, "pids": pids, "before": before, "during": during, "after": audit_snapshot(),
            "recording": recording, "ruleset": ruleset, "failures": failures, "stats": backend.stats()}


def rules_for(live_run: dict[str, object], action: str) -> set[str]:
    pids = set(live_run["pids"][action])  # type: ignore[index]
    return {rule for rule, pid, _ in live_run["alerts"] if pid in pids}  # type: ignore[attr-defined]


@pytest.mark.parametrize(("action", "rule"), [
    ("shadow", "Read sensitive file untrusted"),
    ("symlink", "Create Symlink Over Sensitive Files"),
    ("devshm", "Execution from /dev/shm"),
    ("find_keys", "Search Private Keys or Passwords"),
    ("shred", "Remove Bulk Data from Disk"),
    ("ptrace", "PTRACE attached to process"),
    ("memfd", "Fileless execution via memfd_create"),
])
def test_action_raises_falco_rule(live_run: dict[str, object], action: str, rule: str) -> None:
    assert not live_run["failures"], live_run["failures"]
    assert rule in rules_for(live_run, action), (action, rules_for(live_run, action))


def test_ordinary_commands_raise_nothing(live_run: dict[str, object]) -> None:
    assert rules_for(live_run, "ordinary") == set()


def test_audit_state_changed_during_and_restored_after(live_run: dict[str, object]) -> None:
    enabled, pid, backlog, rules, wait = live_run["during"]  # type: ignore[misc]
    assert wait == 0
    assert pid == os.getpid() and enabled == 1 and backlog >= 65536
    assert sum(getattr(r, "key", "") == "falcopy" for r in rules) == 1
    stats = live_run["stats"]
    assert isinstance(stats, SourceStats)
    assert stats.detail["skipped_records"] == 0  # the kernel made no PROCTITLE records
    assert stats.events > 0 and stats.bytes > 0
    assert live_run["after"] == live_run["before"]


def test_replay_of_recording_gives_the_same_alerts(live_run: dict[str, object]) -> None:
    ruleset = live_run["ruleset"]
    replayed = [(rule.name, event.pid, event.num)
                for event in ReplaySource(live_run["recording"], name="syscall")  # type: ignore[arg-type]
                for rule in ruleset.evaluate(event)]  # type: ignore[attr-defined]
    assert replayed == live_run["alerts"]
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
async def test_process_in_pod_cgroup_gets_container_and_pod_fields(api: object, tmp_path: Path) -> None:  # noqa: F811
    import asyncio

    from kubernetes import client, config

    from engine.fields import lookup
    from engine.sources.syscall.linux_audit.backend import AuditBackend
    from engine.state.pods import PodIndex, PodWatcher
    from tests.engine.state.test_pods import pod

    api.seed("v1/pods", pod("web-1", uid=POD_UID, container_id=CONTAINER, labels={"app": "web", "tier": "fe"}))  # type: ignore[attr-defined]
    index = PodIndex()
    watcher = PodWatcher(index, "node-a", api_factory=lambda: client.CoreV1Api(
        config.new_client_from_config(config_file=str(api.kubeconfig))), resync=2.0)  # type: ignore[attr-defined]
    created = [d for d in _containerd_cgroup() if not d.exists()]
    backend = AuditBackend({"execve"}, state_file=tmp_path / "state.json", containers=index.container,
                           watcher=watcher)
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


OTHER_DAEMON = textwrap.dedent("""
    import os, sys
    from engine.sources.syscall.linux_audit.netlink import AuditSocket
    sock = AuditSocket(rcvbuf=1 << 22)
    sock.set_status(pid=os.getpid())
    print("owner", flush=True)
    while True:  # drain like auditd would
        sock.recv_record()
""")


def _forget_dead_owner(dead: int, original: int) -> None:
    """Put back the audit pid the test found, when it still names the killed stand-in daemon."""
    from engine.sources.syscall.linux_audit.netlink import AuditSocket
    sock = AuditSocket()
    try:
        if sock.get_status().pid == dead:
            sock.set_status(pid=original)
    finally:
        sock.close()


@contextlib.contextmanager
def other_audit_daemon() -> Iterator[subprocess.Popen[bytes]]:
    """A stand-in auditd that owns the audit pid while the block runs; the pid found before is put back."""
    before = audit_snapshot()
    repo = Path(__file__).resolve().parents[2]
    daemon = subprocess.Popen([sys.executable, "-c", OTHER_DAEMON], stdout=subprocess.PIPE, cwd=repo)
    try:
        assert daemon.stdout is not None and daemon.stdout.readline().strip() == b"owner"
        yield daemon
    finally:
        daemon.kill()
        daemon.wait()
        if daemon.stdout is not None:
            daemon.stdout.close()
        _forget_dead_owner(daemon.pid, before[1])


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
def test_executable_written_into_an_overlay_is_on_the_upper_layer(tmp_path: Path) -> None:
    """A container process running a binary copied into its overlay after start (the upper layer) gets
    ``proc.is_exe_upper_layer`` true; one shipped in the image gets ``proc.is_exe_lower_layer``. The layers share one
    filesystem, as with containerd's overlay snapshotter, so overlayfs gives every file the same device."""
    from engine.fields import lookup
    from engine.sources.syscall.linux_audit.backend import AuditBackend

    base = tmp_path / "layers"
    base.mkdir()
    lower, upper, work, merged = (base / name for name in ("lower", "upper", "work", "merged"))
    created = [d for d in _containerd_cgroup() if not d.exists()]
    mounted: list[Path] = []
    backend = AuditBackend({"execve"}, state_file=tmp_path / "state.json")
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


CONNECTOR = textwrap.dedent("""
    import socket, sys, time
    sock = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    print(sock.getsockname()[1], flush=True)
    time.sleep(1.0)  # hold the socket while the engine decodes the connect
""")


def test_connect_carries_the_local_end_read_from_the_live_socket(tmp_path: Path) -> None:
    """Audit logs only where a connect went; the engine reads the socket's own end while the process holds it."""
    from engine.fields import lookup
    from engine.sources.syscall.linux_audit.backend import AuditBackend
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    backend = AuditBackend({"connect"}, state_file=tmp_path / "state.json")
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
