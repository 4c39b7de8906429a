"""``proc.*`` and ``thread.*`` extractors over constructed process chains."""

from __future__ import annotations

from typing import Any

import pytest

from engine.events.syscall import ProcessInfo


def test_own_parent_and_ancestors(make_event: Any, field: Any) -> None:
    ev = make_event()
    assert field(ev, "proc.name") == "cat"
    assert field(ev, "proc.pname") == "python3"
    assert field(ev, "proc.exe") == "cat"
    assert field(ev, "proc.exepath") == "/usr/bin/cat"
    assert field(ev, "proc.pexepath") == "/usr/bin/python3.12"
    assert field(ev, "proc.pexe") == "python3"
    assert field(ev, "proc.cmdline") == "cat /etc/shadow"
    assert field(ev, "proc.pcmdline") == "python3 app.py"  # built from name and args when not recorded
    assert field(ev, "proc.args") == "/etc/shadow"
    assert field(ev, "proc.cmdnargs") == 1
    assert field(ev, "proc.exeline") == "cat /etc/shadow"


@pytest.mark.parametrize(("index", "name", "pid"), [
    (0, "cat", 102), (1, "python3", 101), (2, "bash", 100), (3, "containerd-shim", 50), (4, "systemd", 1),
    (5, None, None), (40, None, None)])
def test_aname_and_apid_by_index(make_event: Any, field: Any, index: int, name: str | None,
                                 pid: int | None) -> None:
    ev = make_event()  # list fields: an indexed read is a one-element list
    assert field(ev, "proc.aname", index) == (None if name is None else [name])
    assert field(ev, "proc.apid", index) == (None if pid is None else [pid])


def test_ancestor_fields_without_index_list_every_ancestor(make_event: Any, field: Any) -> None:
    ev = make_event()
    assert field(ev, "proc.aname") == ["python3", "bash", "containerd-shim", "systemd"]
    assert field(ev, "proc.apid") == [101, 100, 50, 1]
    assert field(ev, "proc.aexepath", 2) == ["/bin/bash"]
    assert field(ev, "proc.aexe", 4) == ["/sbin/init"]


def test_missing_process_and_parent_are_none(make_event: Any, field: Any) -> None:
    ev = make_event(proc=None)
    for name in ("proc.name", "proc.pname", "proc.aname", "proc.cmdline", "proc.env", "thread.cap_effective",
                 "proc.duration", "proc.sname"):
        assert field(ev, name) is None, name
    orphan = make_event(proc=ProcessInfo(pid=9, name="x"))
    assert field(orphan, "proc.pname") is None
    assert field(orphan, "proc.aname") is None  # no ancestors known: missing, not an empty list
    assert field(orphan, "proc.pcmdline") is None
    assert field(orphan, "proc.exepath") is None  # empty means unknown


def test_parent_cycle_does_not_hang(make_event: Any, field: Any) -> None:
    a = ProcessInfo(pid=1, name="a")
    b = ProcessInfo(pid=2, name="b", parent=a)
    a.parent = b
    names = field(make_event(proc=b), "proc.aname")  # a looping chain is cut at a fixed depth
    assert names[:3] == ["a", "b", "a"] and len(names) <= 512


def test_environment(make_event: Any, field: Any) -> None:
    ev = make_event()
    assert field(ev, "proc.env") == "HOME=/root LANG=C"
    assert field(ev, "proc.env", "LANG") == "C"
    assert field(ev, "proc.env", "SECRET") is None
    assert field(ev, "proc.aenv", "SECRET") == "s3"  # found on the bash ancestor


def test_session_and_group_leaders(make_event: Any, field: Any) -> None:
    ev = make_event()
    assert field(ev, "proc.sid") == 100
    assert field(ev, "proc.sname") == "bash"
    assert field(ev, "proc.sid.exepath") == "/bin/bash"
    assert field(ev, "proc.is_sid_leader") is False
    assert field(ev, "proc.vpgid") == 7
    assert field(ev, "proc.vpgid.name") == "python3"
    assert field(ev, "proc.vpgid.exe") == "python3"
    assert field(ev, "proc.is_vpgid_leader") is False
    assert field(make_event(proc=ev.proc.parent), "proc.is_vpgid_leader") is True
    assert field(ev, "proc.pgid.name") == "python3"
    assert field(ev, "proc.loginshellid") == 100


def test_times(make_event: Any, field: Any, ts: int) -> None:
    ev = make_event()
    assert field(ev, "proc.duration") == 10**9
    assert field(ev, "proc.ppid.duration") == 2 * 10**9
    assert field(ev, "proc.pid.ts") == ts - 10**9


def test_ids_and_flags(make_event: Any, field: Any) -> None:
    ev = make_event()
    assert field(ev, "proc.pid") == 102 and field(ev, "proc.ppid") == 101 and field(ev, "proc.vpid") == 8
    assert field(ev, "proc.tty") == 34816
    assert field(ev, "thread.tid") == 102 and field(ev, "thread.vtid") == 8
    assert field(ev, "thread.ismain") is True
    assert field(ev, "proc.is_exe_upper_layer") is False
    ev.proc.exe_upper_layer = True
    ev.proc.exe_from_memfd = True
    assert field(ev, "proc.is_exe_upper_layer") is True
    assert field(ev, "proc.is_exe_from_memfd") is True


def test_capabilities_render_as_names(make_event: Any, field: Any) -> None:
    ev = make_event()
    assert field(ev, "thread.cap_effective") == "CAP_CHOWN CAP_SYS_ADMIN"
    assert field(ev, "thread.cap_permitted") == "CAP_SETUID CAP_CHECKPOINT_RESTORE"
    assert field(ev, "thread.cap_inheritable") == ""


def test_container_healthcheck(make_event: Any, field: Any, pod_container: Any) -> None:
    probe = ProcessInfo(pid=300, name="curl", exe="curl", args=["-f", "http://localhost/"],
                        container_id="0123456789ab")
    assert field(make_event(proc=probe, container=pod_container), "proc.is_container_healthcheck") is True
    other = ProcessInfo(pid=301, name="curl", exe="curl", args=["http://evil/"], container_id="0123456789ab")
    assert field(make_event(proc=other, container=pod_container), "proc.is_container_healthcheck") is False
    assert field(make_event(proc=probe), "proc.is_container_healthcheck") is False  # no container
