"""The normalized syscall event model and its JSON-lines record format."""

from __future__ import annotations

import orjson
import pytest

from engine.events.syscall import ContainerInfo, FdInfo, ProcessInfo, SyscallEvent


def _event() -> SyscallEvent:
    init = ProcessInfo(pid=1, name="systemd", exepath="/usr/lib/systemd/systemd", uid=0)
    shell = ProcessInfo(pid=100, ppid=1, name="bash", exepath="/bin/bash", args=["-c", "cat /etc/shadow"],
                        cmdline="bash -c cat /etc/shadow", uid=0, parent=init, container_id="0123456789ab",
                        cap_effective=(1 << 21) | 1)
    cat = ProcessInfo(pid=101, tid=101, ppid=100, name="cat", exe="cat", exepath="/usr/bin/cat",
                      args=["/etc/shadow"], cmdline="cat /etc/shadow", env=["HOME=/root"], uid=0,
                      parent=shell, container_id="0123456789ab")
    fd = FdInfo(num=3, type="file", name="/etc/shadow", directory="/etc", filename="shadow", open_flags=1)
    container = ContainerInfo(id="0123456789ab", name="web", image="nginx:1.25", image_repository="nginx",
                              image_tag="1.25", privileged=False, pod_name="web-0", pod_namespace="prod",
                              pod_labels={"app": "web"})
    return SyscallEvent(type="openat", dir="<", ts=1_700_000_000_123_456_789, tid=101, pid=101, res=3,
                        args={"fd": 3, "name": "/etc/shadow", "flags": 1, "data": b"\x00\xff"},
                        proc=cat, fd=fd, container=container, num=7)


def test_contract_attributes() -> None:
    ev = _event()
    assert ev.source == "syscall"
    assert ev.evt_type == "openat" == ev.type
    assert ev.cache == {}
    assert ProcessInfo(pid=5).container_id == "host"
    with pytest.raises(AttributeError):
        ev.not_an_attribute = 1  # type: ignore[attr-defined]  # slots=True


def test_round_trip_keeps_everything() -> None:
    ev = _event()
    back = SyscallEvent.from_json(ev.to_json())
    assert back == ev
    assert back.proc is not None and back.proc.parent is not None and back.proc.parent.parent is not None
    assert back.proc.parent.parent.name == "systemd"
    assert back.proc.parent.parent.parent is None
    assert back.args["data"] == b"\x00\xff"
    assert back.container is not None and back.container.pod_labels == {"app": "web"}


def test_parent_chain_is_flat_and_defaults_are_omitted() -> None:
    obj = orjson.loads(_event().to_json())
    assert [p["pid"] for p in obj["procs"]] == [101, 100, 1]
    assert all("parent" not in p for p in obj["procs"])
    assert "loginuid" not in obj["procs"][0]  # default None is not written
    assert obj["args"]["data"] == {"$b64": "AP8="}


def test_minimal_record_and_unknown_keys() -> None:
    ev = SyscallEvent.from_json('{"type": "execve", "ts": 5, "future_key": 1, "procs": [{"pid": 9, "x": 1}]}')
    assert ev.type == "execve" and ev.ts == 5 and ev.dir == "<"
    assert ev.proc is not None and ev.proc.pid == 9 and ev.proc.parent is None
    assert ev.fd is None and ev.container is None and ev.res is None


@pytest.mark.parametrize(("line", "message"), [
    ("not json", "not JSON"),
    ("[1, 2]", "expected a JSON object"),
    ('{"ts": 1}', "missing event 'type'"),
    ('{"type": "open", "dir": "?"}', "'dir' must be"),
    ('{"type": "open", "ts": "soon"}', "'ts' must be an integer"),
    ('{"type": "open", "v": 99}', "unsupported record format version"),
    ('{"type": "open", "procs": [{"name": "x"}]}', "procs[]"),
    ('{"type": "open", "fd": 3}', "fd must be an object"),
    ('{"type": "open", "procs": [{"pid": 1, "uid": "root"}]}', "procs[].uid must be int"),
    ('{"type": "open", "procs": [{"pid": 1, "args": "a b"}]}', "procs[].args must be list"),
    ('{"type": "open", "procs": [{"pid": null}]}', "procs[].pid must not be null"),
    ('{"type": "open", "fd": {"sport": "80"}}', "fd.sport must be int"),
    ('{"type": "open", "container": {"id": "x", "privileged": "yes"}}', "container.privileged must be bool"),
])
def test_bad_records_name_the_problem(line: str, message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message.replace("[", r"\[").replace("]", r"\]")):
        SyscallEvent.from_json(line)


def test_resolved_paths_round_trip_and_are_checked() -> None:
    ev = SyscallEvent(type="unlinkat", args={"dirfd": 4, "name": "x"}, paths={"name": "/data/x"}, num=1)
    obj = orjson.loads(ev.to_json())
    assert obj["paths"] == {"name": "/data/x"}
    assert SyscallEvent.from_json(ev.to_json()) == ev
    assert "paths" not in orjson.loads(SyscallEvent(type="close").to_json())
    with pytest.raises(TypeError, match="'paths' must be an object of strings"):
        SyscallEvent.from_json('{"type": "unlinkat", "paths": {"name": 3}}')
