"""Every ``ka.*``/``jevt.*`` field gives the same value whether an event is read through its typed header (the
common case) or decoded whole, directly and through the generated output code, and reading one leaves the rest of
the event undecoded."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from engine.events.k8s_audit import AuditEvent, DecodedEvent, HeaderEvent
from engine.fields.base import ArgKind, ArgMode, FieldSpec
from engine.fields.k8saudit import FIELD_CLASSES
from engine.outputs.formatter import OutputFormatter
from engine.sources.k8s_audit.decode import decode_payload, read_event
from engine.testing.audit_mixes import mix_lines
from engine.testing.audit_synth import synth_lines

BASE: dict[str, Any] = {
    "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "RequestResponse", "auditID": "a-1",
    "stage": "ResponseComplete", "verb": "create", "requestURI": "/api/v1/namespaces/ns/pods/p/exec?command=sh",
    "user": {"username": "alice", "groups": ["dev", "system:authenticated"]}, "sourceIPs": ["10.0.0.1", "::1"],
    "userAgent": "kubectl/v1.31", "objectRef": {"resource": "pods", "namespace": "ns", "name": "p",
                                                "subresource": "exec", "apiVersion": "v1"},
    "responseStatus": {"metadata": {}, "code": 201, "reason": "Created"},
    "requestObject": {"kind": "Pod", "spec": {"hostNetwork": True, "containers": [
        {"name": "c", "image": "nginx:1", "securityContext": {"privileged": True}}],
        "volumes": [{"name": "v", "hostPath": {"path": "/etc"}}]}},
    "responseObject": {"metadata": {"name": "p-resp"}},
    "annotations": {"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": "RBAC"},
    "requestReceivedTimestamp": "2024-05-01T10:00:00.000001Z", "stageTimestamp": "2024-05-01T10:00:00.123456Z",
}


def _variants() -> list[bytes]:
    """Events at the edges of what the header types: each is read through it, or decoded whole, and the two
    forms must agree either way."""
    changes: list[dict[str, Any]] = [
        {}, {"responseStatus": {"code": 0}}, {"responseStatus": {"code": -(2**63)}},
        {"responseStatus": {"code": 2**63 - 1}}, {"responseStatus": {"code": 2**63}},
        {"responseStatus": {"code": 201.0}}, {"responseStatus": {"code": True}},
        {"responseStatus": None}, {"responseStatus": {"code": None, "reason": 5}}, {"sourceIPs": []},
        {"sourceIPs": None}, {"sourceIPs": [1, "x"]}, {"sourceIPs": "10.0.0.1"}, {"user": {"groups": []}},
        {"user": {"username": None}}, {"user": {}}, {"impersonatedUser": {"username": "bob"}},
        {"impersonatedUser": None}, {"impersonatedUser": "x"}, {"user": {"username": "a", "groups": None}},
        {"user": {"groups": [1, None, "g"]}}, {"user": {"groups": "g"}}, {"objectRef": {}}, {"objectRef": {"resource": "pods", "name": 7}},
        {"objectRef": {"resource": "secrets", "name": "s"}}, {"requestObject": None}, {"requestObject": []},
        {"requestObject": "text"}, {"responseObject": {"metadata": None}}, {"annotations": None},
        {"annotations": {"authorization.k8s.io/decision": ["x"]}}, {"requestURI": None}, {"userAgent": {"a": 1}},
        {"verb": "impersonate"}, {"verb": "escalate"}, {"stage": "RequestReceived"},
    ]
    out = [orjson.dumps({**BASE, **change}) for change in changes]
    spec = BASE["requestObject"]["spec"]
    container = spec["containers"][0]
    pods: list[Any] = [  # request objects at the edges of the typed pod view (engine.fields.k8saudit_pod)
        {"spec": None}, {"spec": {}}, {"spec": []}, {"spec": {**spec, "containers": None}},
        {"spec": {**spec, "containers": []}}, {"spec": {**spec, "containers": {"image": "x"}}},
        {"spec": {**spec, "containers": [None, container]}}, {"spec": {**spec, "containers": [[container]]}},
        {"spec": {**spec, "containers": [container, {"name": "d"}]}},
        {"spec": {**spec, "containers": [container, {"image": None}]}},
        {"spec": {**spec, "containers": [{"image": 5}]}},
        {"spec": {**spec, "containers": [{"image": "reg:5000/a/b@sha256:ab"}, {"image": "b"}]}},
        {"spec": {**spec, "containers": [{"image": "a", "securityContext": None}]}},
        {"spec": {**spec, "containers": [{"image": "a", "securityContext": {"privileged": None}}]}},
        {"spec": {**spec, "containers": [{"image": "a", "securityContext": {"privileged": "true"}}]}},
        {"spec": {**spec, "containers": [{"image": "a", "securityContext": {"privileged": 1}}]}},
        {"spec": {**spec, "containers": [{"image": "a", "securityContext": {"privileged": False}}, container]}},
        {"spec": {**spec, "initContainers": [container], "ephemeralContainers": [{"image": "e"}]}},
        {"spec": {**spec, "initContainers": []}}, {"spec": {**spec, "hostNetwork": None, "hostPID": False}},
        {"spec": {**spec, "hostNetwork": "yes"}}, {"spec": {**spec, "hostIPC": 0}},
        {"spec": {**spec, "volumes": None}}, {"spec": {**spec, "volumes": []}},
        {"spec": {**spec, "volumes": [{"hostPath": None}, {"name": "e"}, {"hostPath": {"path": "/"}}]}},
        {"spec": {**spec, "volumes": [{"hostPath": {"path": 5}}]}},
        {"spec": {**spec, "volumes": [{"hostPath": {"path": None}}, None]}},
    ]
    out += [orjson.dumps({**BASE, "requestObject": pod}) for pod in pods]
    responses: list[Any] = [None, [], "x", {}, {"metadata": {}}, {"metadata": {"name": None}},
                            {"metadata": {"name": 5}}, {"metadata": {"name": {"a": 1}}}, {"metadata": []}]
    out += [orjson.dumps({**BASE, "responseObject": response}) for response in responses]
    text = orjson.dumps(BASE)  # a duplicate member: the last one wins in the view as in the decoded object
    out.append(text.replace(b'"hostNetwork":true', b'"hostNetwork":true,"hostNetwork":false'))
    out.append(text.replace(b'"privileged":true', b'"privileged":false,"privileged":true'))
    for member in ("requestObject", "responseObject", "annotations", "objectRef", "user", "responseStatus"):
        out.append(orjson.dumps({k: v for k, v in BASE.items() if k != member}))
    text = orjson.dumps(BASE)
    out.append(text.replace(b'"code":201', b'"code":18446744073709551616'))  # past 64 bits: a float to orjson
    out.append(text.replace(b'"verb":"create"', b'"verb":"get","verb":"create"'))  # the last duplicate wins
    out.append(text.replace(b'"name":"p"', b'"name":"p\\u00e9\\/x"'))  # escapes in a typed member
    out.append(text.replace(b'"image":"nginx:1"', b'"image":"nginx\\u003a1"'))  # and in a raw one
    out.append(text.replace(b'"kind":"Pod"', b'"kind" : "Pod" ,\n "n": 1E+2'))  # spacing and number spellings
    return out


def _corpus() -> list[bytes]:
    return [*_variants(), *synth_lines(300, seed=11), *mix_lines(200, seed=12, mix="bodies"),
            *mix_lines(300, seed=13, mix="alerts")]


POINTERS = ("/stage", "/verb", "/kind", "/auditID", "/level", "/objectRef/name", "/objectRef/namespace",
            "/objectRef", "/objectRef/apiVersion", "/responseStatus/code", "/responseStatus/reason", "/user/username",
            "/user/groups", "/user/groups/1", "/impersonatedUser/username", "/impersonatedUser", "/sourceIPs/0", "/requestURI", "/requestObject",
            "/requestObject/spec/containers/0/image", "/requestObject/spec/volumes", "/responseObject/metadata/name",
            "/annotations/authorization.k8s.io~1decision", "/annotations", "/stageTimestamp", "", "/", "stage")
KEYS = {"ka.uri.param": ("command", "container", "x"), "ka.volume.hostpath": ("/etc", "/et*", "/var/run/docker.sock"),
        "ka.req.binding.subject.has_name": ("x",)}


def _args(spec: FieldSpec) -> tuple[Any, ...]:
    if spec.arg is ArgMode.NONE:
        return (None,)
    if spec.arg_kind is ArgKind.INDEX:
        return (None, 0, 1, 7) if spec.arg is ArgMode.OPTIONAL else (0, 1, 7)
    return POINTERS if spec.name.endswith(".value") else KEYS.get(spec.name, ("x",))


SPECS = [spec for cls in FIELD_CLASSES for spec in cls.fields]


def _forms(line: bytes) -> tuple[AuditEvent | None, AuditEvent]:
    (whole,) = decode_payload(line)
    assert type(whole) is DecodedEvent and not whole.has_header
    return read_event(line), whole


def test_most_events_are_read_through_the_header() -> None:
    lines = _corpus()
    read = [line for line in lines if read_event(line) is not None]
    assert len(read) > 0.9 * len(lines)
    assert read_event(orjson.dumps({**BASE, "responseStatus": {"code": 2**63}})) is None  # orjson: a float
    assert read_event(orjson.dumps({**BASE, "verb": 5})) is None


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_a_field_reads_the_same_from_both_forms(spec: FieldSpec) -> None:
    for line in _corpus():
        header, whole = _forms(line)
        if header is None:
            continue
        for arg in _args(spec):
            want = spec.extract(whole, arg)
            assert spec.extract(header, arg) == want, (spec.name, arg, line[:200])
            assert spec.extract(header, arg) == want  # the per-event cache gives the same again


def test_the_generated_output_code_reads_the_same_from_both_forms() -> None:
    tokens = [f"%{s.name}" if s.arg is ArgMode.NONE else f"%{s.name}[{_args(s)[-1]}]" for s in SPECS
              if s.name != "jevt.value" and s.name != "json.value"]
    tokens += [f"%jevt.value[{p}]" for p in POINTERS if p and "]" not in p]
    fmt = OutputFormatter(" ".join(tokens), "k8s_audit")
    compared = 0
    for line in _corpus():
        header, whole = _forms(line)
        if header is not None:
            assert fmt.format(header) == fmt.format(whole), line[:200]
            compared += 1
    assert compared > 500


def test_typed_fields_leave_the_event_undecoded_and_members_are_parsed_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.events import k8s_audit as module

    parsed: list[bytes] = []

    class Counting:
        @staticmethod
        def loads(data: bytes) -> Any:
            parsed.append(bytes(data))
            return orjson.loads(data)

        dumps = staticmethod(orjson.dumps)

    monkeypatch.setattr(module, "orjson", Counting)
    event = read_event(orjson.dumps(BASE))
    assert isinstance(event, HeaderEvent)
    typed = ("ka.verb", "ka.user.name", "ka.target.name", "ka.target.namespace", "ka.response.code", "ka.uri",
             "ka.useragent", "ka.stage", "ka.target.pod.name", "jevt.rawtime")
    fmt = OutputFormatter(" ".join(f"%{name}" for name in typed) + " %ka.uri.param[command] %jevt.value[/stage]",
                          "k8s_audit")
    text, _ = fmt.format(event)
    assert text.startswith("create alice p ns 201 /api/v1/") and parsed == []
    assert type(event) is HeaderEvent  # still not decoded whole
    spec = next(s for s in SPECS if s.name == "ka.req.pod.containers.image")
    assert spec.extract(event, None) == ["nginx:1"]
    assert next(s for s in SPECS if s.name == "ka.req.pod.host_network").extract(event, None) == "true"
    assert parsed == []  # both read from the typed pod view: the request object is not parsed into dicts
    assert next(s for s in SPECS if s.name == "ka.req.pod.containers.name").extract(event, None) == ["c"]
    assert next(s for s in SPECS if s.name == "ka.req.pod.host_pid").extract(event, None) is None
    assert parsed == [orjson.dumps(BASE["requestObject"])]  # a field the view does not type: one member, once
    assert next(s for s in SPECS if s.name == "ka.user.groups").extract(event, None) == BASE["user"]["groups"]
    assert next(s for s in SPECS if s.name == "ka.sourceips").extract(event, 1) == ["::1"]
    assert parsed[1:] == [orjson.dumps(BASE["user"]["groups"]), orjson.dumps(BASE["sourceIPs"])]
    assert next(s for s in SPECS if s.name == "jevt.obj").extract(event, None) == orjson.dumps(BASE).decode()
    assert parsed[-1] == orjson.dumps(BASE) and event.obj is event.obj  # now decoded whole, and kept
    assert len(parsed) == 4 and type(event) is HeaderEvent  # the typed members still answer
