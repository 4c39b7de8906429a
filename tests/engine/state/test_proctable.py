"""The process table: /proc reading, parent chain, bound, fork/exec/exit updates."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from engine.events.syscall import ProcessInfo
from engine.state.proctable import ProcessTable, read_process


def test_read_self_matches_os() -> None:
    me = read_process(os.getpid())
    assert me is not None
    assert me.pid == os.getpid() and me.ppid == os.getppid()
    assert me.uid == os.getuid() and me.euid == os.geteuid()
    assert os.path.realpath(me.exepath) == os.path.realpath(sys.executable)
    assert me.cwd.rstrip("/") == os.getcwd().rstrip("/")
    assert me.args == sys.orig_argv[1:]
    assert me.container_id == "host"
    assert me.start_ts > 1_600_000_000 * 10**9


def test_child_args_env_and_parent_chain() -> None:
    child = subprocess.Popen(["sleep", "5"], env={"FALCOPY_MARK": "1", "PATH": os.environ["PATH"]})
    try:
        # until the child has exec'd: the kernel names it before it lays out the new argv and environment, so
        # the name alone is not enough (read then, cmdline is still empty)
        for _ in range(200):
            with open(f"/proc/{child.pid}/cmdline", "rb") as fh:
                if fh.read() == b"sleep\x005\x00":
                    break
            time.sleep(0.01)
        table = ProcessTable()
        info = table.get(child.pid)
        assert info is not None
        assert info.name == "sleep" and info.args == ["5"] and info.cmdline == "sleep 5"
        assert "FALCOPY_MARK=1" in info.env
        assert info.parent is not None and info.parent.pid == os.getpid()
        chain = []
        node: ProcessInfo | None = info
        while node is not None:
            chain.append(node.pid)
            node = node.parent
        assert chain[-1] == 1
    finally:
        child.kill()
        child.wait()


def test_gone_process_reads_none() -> None:
    child = subprocess.Popen(["true"])
    child.wait()
    assert read_process(child.pid) is None


def test_bound_evicts_least_recent() -> None:
    fake = {pid: ProcessInfo(pid=pid, ppid=0) for pid in range(1, 11)}
    table = ProcessTable(max_size=5, reader=fake.get)
    for pid in range(1, 11):
        table.get(pid)
    assert len(table) == 5 and table.evictions == 5
    assert 10 in table and 1 not in table


def test_fork_copies_parent_exit_prunes() -> None:
    fake = {100: ProcessInfo(pid=100, ppid=0, name="bash", cwd="/root/")}
    table = ProcessTable(reader=fake.get)
    table.get(100)
    child = table.on_fork(100, 101)
    assert child is not None and child.name == "bash" and child.ppid == 100 and child.parent is fake[100]
    assert table.on_exit(101) is child and 101 not in table


def test_memfd_exepath_as_falco_shows_it() -> None:
    from engine.state.proctable import normalize_exepath
    assert normalize_exepath("/memfd:payload (deleted)") == ("memfd:payload", True)
    assert normalize_exepath("/usr/bin/sleep") == ("/usr/bin/sleep", False)
    assert normalize_exepath("/tmp/gone (deleted)") == ("/tmp/gone", False)


def test_table_reads_processes_from_the_proc_it_is_given(tmp_path: Path) -> None:
    """A pod without hostPID reads the host's /proc from a mount: every read goes to the given root."""
    proc = tmp_path / "proc"
    entry = proc / "4242"
    entry.mkdir(parents=True)
    (entry / "status").write_text("Name:\tworker\nUid:\t1000\t1000\t1000\t1000\nGid:\t1000\t1000\t1000\t1000\n"
                                  "NSpid:\t4242\t7\nCapEff:\t0000000000000000\n")
    (entry / "stat").write_text("4242 (worker) S 1 4242 4242 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 100 0 0\n")
    (entry / "cmdline").write_bytes(b"/opt/app/worker\0--serve\0")
    (entry / "cgroup").write_text(f"0::/kubepods.slice/cri-containerd-{'cd' * 32}.scope\n")
    (entry / "exe").symlink_to("/opt/app/worker")
    (entry / "cwd").symlink_to("/srv")
    table = ProcessTable(proc=str(proc))
    assert table.scan() == 1
    info = table.get(4242)
    assert info is not None
    assert (info.name, info.exepath, info.args, info.cwd, info.uid) == ("worker", "/opt/app/worker", ["--serve"],
                                                                          "/srv/", 1000)
    assert info.vpid == 7 and info.container_id == "cd" * 6
    assert ProcessTable(proc=str(proc)).get(os.getpid()) is None  # this process is not in that /proc


def test_a_chain_follows_every_change_of_the_table_and_unreadable_ancestors_are_not_reread() -> None:
    reads: list[int] = []

    def reader(pid: int) -> ProcessInfo | None:
        reads.append(pid)
        return None

    table = ProcessTable(reader=reader)
    table.put(ProcessInfo(pid=1, name="init"))
    table.put(ProcessInfo(pid=10, ppid=1, name="bash"))
    child = table.put(ProcessInfo(pid=20, ppid=10, name="cat"))
    got = table.get(20)
    assert got is child and got.parent is not None and got.parent.name == "bash"
    assert got.parent.parent is not None and got.parent.parent.name == "init"
    table.put(ProcessInfo(pid=10, ppid=1, name="python"))  # the parent exec'd: a new entry under its pid
    got = table.get(20)
    assert got is not None and got.parent is not None and got.parent.name == "python"
    table.on_exit(10)
    got = table.get(20)
    assert got is not None and got.parent is None and reads == [10]  # the parent is gone: read once
    got = table.get(20)
    assert got is not None and got.parent is None and reads == [10]  # nothing changed: not asked again
    table.put(ProcessInfo(pid=10, ppid=1, name="zsh"))
    got = table.get(20)
    assert got is not None and got.parent is not None and got.parent.name == "zsh"


def test_fork_copies_every_attribute_but_the_ids() -> None:
    table = ProcessTable(reader=lambda pid: None)
    parent = table.put(ProcessInfo(pid=10, ppid=1, name="bash", args=["-c", "x"], cwd="/w/", uid=1000,
                                   cap_effective=5, container_id="abc", exe_writable=True))
    child = table.on_fork(10, 11)
    assert child is not None and child.parent is parent
    assert (child.pid, child.tid, child.ppid) == (11, 11, 10)
    assert (child.name, child.args, child.cwd, child.uid, child.cap_effective, child.container_id,
            child.exe_writable) == ("bash", ["-c", "x"], "/w/", 1000, 5, "abc", True)


def test_container_users_come_from_the_containers_own_passwd(tmp_path: Path) -> None:
    from engine.state.proctable import ContainerUsers

    container_user = ContainerUsers(max_size=2).name
    etc = tmp_path / "4242" / "root" / "etc"
    etc.mkdir(parents=True)
    (etc / "passwd").write_text("root:x:0:0::/root:/bin/sh\nappuser:x:1234:1234::/app:/bin/sh\n")
    proc = str(tmp_path)
    assert container_user(4242, 1234, "c0ffee000001", proc=proc) == "appuser"
    assert container_user(4242, 4321, "c0ffee000001", proc=proc) is None
    assert container_user(4242, 0, "c0ffee000001", proc=proc) == "root"
    assert container_user(9999, 1234, "c0ffee000002", proc=proc) is None  # unreadable: unknown, not cached
    (etc / "passwd").write_text("other:x:1234:1234::/:/bin/sh\n")
    assert container_user(4242, 1234, "c0ffee000001", proc=proc) == "appuser"  # cached per container
    assert container_user(4242, 1234, "c0ffee000002", proc=proc) == "other"
    # bounded: the oldest answer went out when the third came in, so it is read again (and is new now)
    assert container_user(4242, 1234, "c0ffee000001", proc=proc) == "other"
    # each table remembers its own: one table's answers never reach another's
    first, second = ProcessTable(proc=proc), ProcessTable(proc=proc)
    assert first.users.name(4242, 1234, "c0ffee000003", proc=proc) == "other"
    (etc / "passwd").write_text("third:x:1234:1234::/:/bin/sh\n")
    assert second.users.name(4242, 1234, "c0ffee000003", proc=proc) == "third"
    assert first.users.name(4242, 1234, "c0ffee000003", proc=proc) == "other" and len(first.users) == 1
