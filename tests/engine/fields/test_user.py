"""``user.*`` and ``group.*`` extractors."""

from __future__ import annotations

import os
import pwd
from typing import Any

from engine.events.syscall import ProcessInfo


def test_root_in_container(make_event: Any, field: Any) -> None:
    ev = make_event()
    assert field(ev, "user.uid") == 0
    assert field(ev, "user.name") == "root"
    assert field(ev, "group.gid") == 0 and field(ev, "group.name") == "root"
    assert field(ev, "user.loginuid") == -1  # unset login uid
    assert field(ev, "user.loginname") is None


def test_names_given_by_the_backend_win(make_event: Any, field: Any) -> None:
    proc = ProcessInfo(pid=5, uid=101, gid=101, user_name="nginx", group_name="nginx",
                       container_id="0123456789ab", loginuid=1000, loginuser_name="alice")
    ev = make_event(proc=proc)
    assert field(ev, "user.name") == "nginx" and field(ev, "group.name") == "nginx"
    assert field(ev, "user.loginuid") == 1000 and field(ev, "user.loginname") == "alice"


def test_unresolved_container_user_is_missing(make_event: Any, field: Any) -> None:
    ev = make_event(proc=ProcessInfo(pid=5, uid=4242, gid=4242, container_id="0123456789ab"))
    assert field(ev, "user.uid") == 4242
    assert field(ev, "user.name") is None and field(ev, "group.name") is None


def test_host_user_from_user_database(make_event: Any, field: Any) -> None:
    uid = os.getuid()
    ev = make_event(proc=ProcessInfo(pid=5, uid=uid, container_id="host"))
    assert field(ev, "user.name") == pwd.getpwuid(uid).pw_name
    assert field(ev, "user.homedir") == pwd.getpwuid(uid).pw_dir


def test_no_process(make_event: Any, field: Any) -> None:
    ev = make_event(proc=None)
    for name in ("user.uid", "user.name", "user.loginuid", "group.gid", "group.name", "user.homedir"):
        assert field(ev, name) is None, name
