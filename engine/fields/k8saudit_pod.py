"""Typed views of raw parts, for the fields the upstream rules read most inside them: the pod request object
(a few ``ka.req.pod.*`` fields) and the response object's name (``ka.resp.name``, in many outputs).

Owns: the msgspec Structs for the parts of a pod spec those fields read (each container's ``image`` and
``securityContext.privileged`` for ``containers``/``initContainers``/``ephemeralContainers``, ``hostNetwork``,
``hostPID``, ``hostIPC``, the volumes' ``hostPath.path``), ``pod_of(event)`` (the view, decoded from the raw
``requestObject`` text of an event read through its typed header, on first use, once per event) and the typed
forms of those fields.

Must not: declare fields (``engine.fields.k8saudit`` does) or decide their semantics: each typed form gives exactly
what the general extractor (``k8saudit_extract``, over the decoded JSON) gives for the same event. Where the view
cannot say that for sure, there is no view (``pod_of`` is None) and the general extractor reads the event: an event
decoded whole, a request object already parsed (reading it again costs less than a second decode), or one whose
members are not of the types below (a string where a bool belongs, a ``null`` container, ...).

``response_name(event)`` does the same for ``responseObject.metadata.name`` (``_NO_NAME`` where the view cannot
say). A member that is absent or JSON ``null`` is None here; the general extractors treat both alike for these fields.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Final

import msgspec

from engine.events.k8s_audit import HeaderEvent

if TYPE_CHECKING:
    from engine.events.k8s_audit import AuditEvent


class SecurityContext(msgspec.Struct, frozen=True, gc=False):
    privileged: bool | None = None


class Container(msgspec.Struct, frozen=True, gc=False):
    image: str | None = None
    securityContext: SecurityContext | None = None


class HostPath(msgspec.Struct, frozen=True, gc=False):
    path: str | None = None


class Volume(msgspec.Struct, frozen=True, gc=False):
    hostPath: HostPath | None = None


class PodSpec(msgspec.Struct, frozen=True, gc=False):
    containers: list[Container] | None = None
    initContainers: list[Container] | None = None
    ephemeralContainers: list[Container] | None = None
    hostNetwork: bool | None = None
    hostPID: bool | None = None
    hostIPC: bool | None = None
    volumes: list[Volume] | None = None


class PodRequest(msgspec.Struct, frozen=True, gc=False):
    spec: PodSpec | None = None


NO_POD: Final = PodRequest()  # an absent or null request object: every field of the view is missing
_decode = msgspec.json.Decoder(PodRequest | None).decode
_KEY: Final = object()  # the view's key in ``event.cache`` (no field's key can equal it)
_MISS: Final = object()
Typed = Callable[[PodRequest], object]


def _view(event: AuditEvent, member: str, key: object, decode: Callable[[bytes], object], *,
          unknown: object) -> object:
    """``decode`` of the raw ``member`` of ``event`` (given ``b""`` when it is absent), once per event (kept in
    ``event.cache`` under ``key``); ``unknown`` when the view cannot say: no typed header, the member already parsed
    whole (the general extractor reads it at once), or not of the view's types."""
    if type(event) is not HeaderEvent:
        return unknown
    cache = event._cache
    if cache is None:
        cache = event._cache = {}
    else:
        got = cache.get(key, _MISS)
        if got is not _MISS:
            return got
    members = event._members
    if members is not None and (member,) in members:
        return unknown
    try:
        value = decode(getattr(event, member) or b"")
    except (msgspec.ValidationError, msgspec.DecodeError):
        value = unknown
    cache[key] = value
    return value


def _pod(raw: bytes) -> PodRequest:
    return (_decode(raw) or NO_POD) if raw else NO_POD


def pod_of(event: AuditEvent) -> PodRequest | None:
    """The typed view of ``event``'s request object, or None when the general extractors must read it."""
    return _view(event, "requestObject", _KEY, _pod, unknown=None)  # type: ignore[return-value]  # PodRequest | None


def _containers(pod: PodRequest, kind: str) -> list[Container] | None:
    spec = pod.spec
    return None if spec is None else getattr(spec, kind)


def images(kind: str, *, repository: bool) -> Typed:
    """``ka.req.pod.<kind>.image`` (``.repository``): missing when any container has no image."""
    def fn(pod: PodRequest) -> list[str] | None:
        found: list[str] = []
        for container in _containers(pod, kind) or ():
            image = container.image
            if image is None:
                return None
            found.append(image.split(":", 1)[0].split("@", 1)[0] if repository else image)
        return found or None
    return fn


def privileged(kind: str) -> Typed:
    """``ka.req.pod.<kind>.privileged``: one ``true``/``false`` per container that sets it."""
    def fn(pod: PodRequest) -> list[str] | None:
        found = [("true" if sc.privileged else "false") for container in _containers(pod, kind) or ()
                 if (sc := container.securityContext) is not None and sc.privileged is not None]
        return found or None
    return fn


def host_paths(pod: PodRequest) -> list[str] | None:
    """``ka.req.pod.volumes.hostpath``."""
    spec = pod.spec
    found = [volume.hostPath.path for volume in (spec.volumes if spec is not None else None) or ()
             if volume.hostPath is not None and volume.hostPath.path is not None]
    return found or None


def flag(name: str) -> Typed:
    """A pod spec flag (``hostNetwork``, ``hostPID``, ``hostIPC``) as text."""
    def fn(pod: PodRequest) -> str | None:
        spec = pod.spec
        value = None if spec is None else getattr(spec, name)
        return None if value is None else ("true" if value else "false")
    return fn


class _Metadata(msgspec.Struct, frozen=True, gc=False):
    name: str | None = None


class _Named(msgspec.Struct, frozen=True, gc=False):
    metadata: _Metadata | None = None


_decode_named = msgspec.json.Decoder(_Named | None).decode
NO_NAME: Final = object()  # ``response_name``: the view cannot say, the general extractor reads the event
_NAME_KEY: Final = object()


def _name(raw: bytes) -> str | None:
    named = _decode_named(raw) if raw else None
    return None if named is None or named.metadata is None else named.metadata.name


def response_name(event: AuditEvent) -> object:
    """``ka.resp.name`` from a typed decode of the raw ``responseObject`` (a string or None), or ``NO_NAME``."""
    return _view(event, "responseObject", _NAME_KEY, _name, unknown=NO_NAME)
