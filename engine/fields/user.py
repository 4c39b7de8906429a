"""Field table for ``user.*`` and ``group.*``: who the event's process runs as.

Owns: the ``user`` and ``group`` field classes. Names come from the process object when the process table
resolved them (container users, from the container's own ``/etc/passwd``); else uid 0 is ``root`` and host
processes are looked up in the host's user database (cached per id); a container user the table could not
resolve is missing, as in Falco when the container has no entry for the uid. ``user.loginuid`` is -1 when no
login uid is set (the kernel's ``(uid_t)-1``).

Must not: read container filesystems or ``/proc``; the only lookup is the host user database.
"""

from __future__ import annotations

import grp
import pwd
from functools import lru_cache
from typing import Any

from engine.events.syscall import HOST_CONTAINER_ID
from engine.fields.base import FieldClass, FieldSpec, FieldType

T = FieldType
_UNSET_LOGINUID = 0xFFFFFFFF


@lru_cache(maxsize=4096)
def _pw(uid: int) -> Any:
    try:
        return pwd.getpwuid(uid)
    except (KeyError, OverflowError):
        return None


@lru_cache(maxsize=4096)
def _gr(gid: int) -> Any:
    try:
        return grp.getgrgid(gid)
    except (KeyError, OverflowError):
        return None


def _host_entry(proc: Any, uid: int | None) -> Any:
    if uid is None or proc.container_id != HOST_CONTAINER_ID:
        return None
    return _pw(uid)


def _user_name(proc: Any, uid: int | None, given: str | None) -> str | None:
    if given:
        return given
    if uid is None:
        return None
    if uid == 0:
        return "root"
    entry = _host_entry(proc, uid)
    return entry.pw_name if entry else None


def _name(event: Any, _arg: Any) -> str | None:
    proc = event.proc
    return None if proc is None else _user_name(proc, proc.uid, proc.user_name)


def _loginuid(event: Any, _arg: Any) -> int | None:
    proc = event.proc
    if proc is None or proc.loginuid is None:
        return None
    return -1 if proc.loginuid in (_UNSET_LOGINUID, -1) else proc.loginuid


def _loginname(event: Any, _arg: Any) -> str | None:
    proc = event.proc
    uid = _loginuid(event, None)
    if proc is None or uid is None or uid == -1:
        return None
    return _user_name(proc, uid, proc.loginuser_name)


def _home(event: Any, _arg: Any) -> str | None:
    proc = event.proc
    entry = None if proc is None else (_pw(0) if proc.uid == 0 else _host_entry(proc, proc.uid))
    return entry.pw_dir if entry else None


def _shell(event: Any, _arg: Any) -> str | None:
    proc = event.proc
    entry = None if proc is None else (_pw(0) if proc.uid == 0 else _host_entry(proc, proc.uid))
    return entry.pw_shell if entry else None


def _group_name(event: Any, _arg: Any) -> str | None:
    proc = event.proc
    if proc is None:
        return None
    if proc.group_name:
        name: str | None = proc.group_name
        return name
    if proc.gid is None:
        return None
    if proc.gid == 0:
        return "root"
    if proc.container_id != HOST_CONTAINER_ID:
        return None
    entry = _gr(proc.gid)
    return entry.gr_name if entry else None


def _f(name: str, ftype: FieldType, desc: str, extract: Any) -> FieldSpec:
    return FieldSpec(name=name, type=ftype, desc=desc, extract=extract)


_USER = (
    _f("user.uid", T.UINT32, "user id.", lambda e, a: None if e.proc is None else e.proc.uid),
    _f("user.name", T.STRING, "user name.", _name),
    _f("user.homedir", T.FSPATH, "home directory of the user.", _home),
    _f("user.shell", T.STRING, "login shell of the user.", _shell),
    _f("user.loginuid", T.INT64, "audit login uid (-1 when not set).", _loginuid),
    _f("user.loginname", T.STRING, "name of the audit login user.", _loginname),
    _f("user.euid", T.UINT32, "effective user id.", lambda e, a: None if e.proc is None else e.proc.euid),
)
_GROUP = (
    _f("group.gid", T.UINT32, "group id.", lambda e, a: None if e.proc is None else e.proc.gid),
    _f("group.name", T.STRING, "group name.", _group_name),
)

FIELD_CLASSES = (
    FieldClass(name="user", sources=("syscall",), fields=_USER, desc="The user the process runs as."),
    FieldClass(name="group", sources=("syscall",), fields=_GROUP, desc="The group the process runs as."),
)
