"""Output formatting: token forms, unknown fields, <NA>, typed output_fields, list rendering."""

from __future__ import annotations

import pytest

from engine.events.k8s_audit import AuditEvent, DecodedEvent
from engine.events.syscall import ProcessInfo, SyscallEvent
from engine.outputs.formatter import OutputFormatError, OutputFormatter, render
from engine.sources.k8s_audit.decode import parse_rfc3339_ns


def _audit(**extra) -> AuditEvent:
    obj = {
        "verb": "get",
        "stage": "ResponseComplete",
        "user": {"username": "alice"},
        "requestURI": "/api/v1/pods?pretty=true&watch=1",
        "stageTimestamp": "2024-01-01T00:00:00Z",
    }
    obj.update(extra)
    return DecodedEvent(obj, ts=parse_rfc3339_ns(obj["stageTimestamp"]))


def test_plain_and_parenthesised_tokens() -> None:
    fmt = OutputFormatter("user=%ka.user.name verb=%(ka.verb)!", "k8s_audit")
    assert fmt.format(_audit()) == ("user=alice verb=get!", {"ka.user.name": "alice", "ka.verb": "get"})


def test_field_arguments_are_kept_in_keys() -> None:
    fmt = OutputFormatter("p=%ka.uri.param[pretty] s=%jevt.value[/stage]", "k8s_audit")
    text, fields = fmt.format(_audit())
    assert text == "p=true s=ResponseComplete"
    assert fields == {"ka.uri.param[pretty]": "true", "jevt.value[/stage]": "ResponseComplete"}


def test_missing_values_print_na_and_are_none() -> None:
    fmt = OutputFormatter("ns=%ka.target.namespace", "k8s_audit")
    assert fmt.format(_audit()) == ("ns=<NA>", {"ka.target.namespace": None})


def test_numbers_stay_numbers_in_output_fields() -> None:
    fmt = OutputFormatter("pid=%proc.pid name=%proc.name", "syscall")
    event = SyscallEvent(type="execve", proc=ProcessInfo(pid=42, name="cat"))
    assert fmt.format(event) == ("pid=42 name=cat", {"proc.pid": 42, "proc.name": "cat"})


def test_list_values_render_like_falco() -> None:
    assert render(["a", "b"]) == ("(a,b)", "(a,b)")
    assert render([]) == ("<NA>", None)
    assert render(True) == ("true", True)
    assert render(None) == ("<NA>", None)


@pytest.mark.parametrize(
    "output, token",
    [
        ("x %not_a_real_field", "not_a_real_field"),
        ("x %proc.nobody y", "proc.nobody"),
        ("100% sure", " "),
        ("x %(proc.name", "proc.name"),
    ],
)
def test_invalid_tokens(output: str, token: str) -> None:
    with pytest.raises(OutputFormatError) as info:
        OutputFormatter(output, "syscall")
    assert str(info.value).startswith("invalid formatting token")
    assert token.strip() in str(info.value)


def test_fields_of_another_source_are_unknown() -> None:
    with pytest.raises(OutputFormatError):
        OutputFormatter("%ka.verb", "syscall")


def test_field_names() -> None:
    fmt = OutputFormatter("%proc.name and %(fd.name)", "syscall")
    assert fmt.field_names == ("proc.name", "fd.name")


def test_indexed_pick_from_a_list_field_prints_bare() -> None:
    from engine.events.syscall import ProcessInfo, SyscallEvent
    from engine.outputs.formatter import OutputFormatter

    proc = ProcessInfo(pid=3, name="cat", parent=ProcessInfo(pid=2, name="bash", parent=ProcessInfo(pid=1,
                                                                                                   name="init")))
    text, fields = OutputFormatter("gparent=%proc.aname[2] all=%proc.aname", "syscall").format(
        SyscallEvent(type="openat", proc=proc))
    assert text == "gparent=init all=(bash,init)"
    assert fields["proc.aname[2]"] == "init"
