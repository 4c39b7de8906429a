"""append_output: extra fields and text reach the alerts of the rules an entry matches, and only those."""

from __future__ import annotations

from types import SimpleNamespace

from engine.events.syscall import ProcessInfo, SyscallEvent
from engine.outputs.alert import build_alert
from engine.outputs.append import AppendOutput
from engine.outputs.formatter import OutputFormatter


def _rule(name: str, tags: tuple[str, ...] = ()) -> SimpleNamespace:
    return SimpleNamespace(name=name, source="syscall", tags=tags, priority="Warning",
                           formatter=OutputFormatter("opened by %proc.name", "syscall"))


def _event() -> SyscallEvent:
    proc = ProcessInfo(pid=7, tid=7, ppid=1, name="cat", env=["HOME=/root", "FALCOPY_VERIFY_TEST_ID=abc"])
    return SyscallEvent(type="openat", ts=1_700_000_000_000_000_000, tid=7, pid=7, proc=proc)


def test_extra_fields_and_output_follow_the_match() -> None:
    append = AppendOutput([
        {"extra_fields": ["proc.env[FALCOPY_VERIFY_TEST_ID]", {"home": "%proc.env[HOME]"}]},
        {"match": {"tags": ["t1", "t2"]}, "extra_output": "pid=%proc.pid"},
        {"match": {"rule": "other"}, "extra_fields": ["proc.pid"]},
    ])
    event = _event()
    tagged = _rule("r", ("t1", "t2", "t3"))
    alert = append.apply(tagged, event, build_alert(tagged, event))
    assert alert.output_fields["proc.env[FALCOPY_VERIFY_TEST_ID]"] == "abc"
    assert alert.output_fields["home"] == "/root"
    assert alert.output_fields["proc.name"] == "cat"
    assert "proc.pid" in alert.output_fields and alert.output.endswith("opened by cat pid=7")
    plain = _rule("r2", ("t1",))
    alert = append.apply(plain, event, build_alert(plain, event))
    assert alert.output.endswith("opened by cat") and "proc.pid" not in alert.output_fields


def test_a_field_of_another_source_is_left_out() -> None:
    append = AppendOutput([{"extra_fields": ["ka.verb"]}])
    rule, event = _rule("r"), _event()
    before = build_alert(rule, event)
    assert append.apply(rule, event, before) is before
