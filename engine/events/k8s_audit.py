"""The Kubernetes audit event model: what the ``k8s_audit`` source hands to rules, fields and outputs.

Owns: ``AuditEvent`` (``.source``, ``.ts``, ``.evt_type``, ``.cache``, ``.obj``, ``.raw``, ``.head``, ``.key``,
``part(path)``, ``member(name)``), the typed header ``EventHead`` (msgspec Structs for what the rule index and the
common ``ka.*`` fields read), the table of JSON paths the header answers (``HEAD_PATHS``) and of the parts it keeps
as raw JSON text (``RAW_PATHS``).

Must not: decode payloads or check them (``engine.sources.k8s_audit.decode`` is the one decoder: it decides which
event is read through the header and which is decoded whole), extract fields, or import any source.

An event comes in one of two forms, with the same values for every field:

* **read through the header** (the common case): ``head`` is an ``EventHead`` decoded from ``raw``. The members
  it types (verb, stage, objectRef, user name, responseStatus, ...) are read from it directly; ``requestObject``,
  ``responseObject``, ``annotations`` and the rarely read lists (``sourceIPs``, ``user.groups``,
  ``impersonatedUser``) are kept as raw JSON text and parsed by ``part(path)`` on first use, once per event;
  anything else (``jevt.obj``, a pointer the header does not answer) decodes the whole event into ``obj``, once.
* **decoded whole** (an event whose members are not of the types the header expects, or text that is not plain
  ASCII, or one built from a dict): ``head`` is ``None`` and everything is read from ``obj``.

A value the header holds as ``None`` is a member that is absent or JSON ``null``; the field semantics treat both
as missing, so both forms agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Final, Literal

import msgspec
import orjson

SOURCE: Final = "k8s_audit"


class _Absent:
    """The value of a JSON path that is not there (distinct from JSON ``null``, which is ``None``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Final = _Absent()

# orjson reads integers in the signed and unsigned 64-bit ranges as ints and larger ones as floats; msgspec
# bounds only in int64, so a response code past it is not typed (the event is decoded whole, as orjson reads it).
_Int64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]

# The verbs kube-apiserver writes (its request verbs, lowercased HTTP methods for non-resource URLs, and the
# authorization verbs it audits) and the audit stages. Read as literals they come back as these very string
# objects, whose hashes are already known (the rule index hashes them per event); an event with any other verb
# or stage is decoded whole instead.
_Verb = Literal["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection", "proxy",
                "post", "put", "head", "options", "impersonate", "bind", "escalate", "approve", "sign", "use"]
_Stage = Literal["RequestReceived", "ResponseStarted", "ResponseComplete", "Panic"]


class ObjectRef(msgspec.Struct, frozen=True, gc=False):
    resource: str | None = None
    subresource: str | None = None
    name: str | None = None
    namespace: str | None = None


NO_RAW: Final = msgspec.Raw()


class UserInfo(msgspec.Struct, frozen=True, gc=False):
    username: str | None = None
    groups: msgspec.Raw = NO_RAW


class ResponseStatus(msgspec.Struct, frozen=True, gc=False):
    code: _Int64 | None = None
    reason: str | None = None


NO_REF: Final = ObjectRef()
NO_USER: Final = UserInfo()
NO_STATUS: Final = ResponseStatus()


class EventHead(msgspec.Struct, gc=False):
    """The typed part of an audit ``Event`` (attributes named as its JSON members). Every other member is skipped
    (its syntax still checked). An absent sub-object reads as an empty one; a ``null`` one, or any member of
    another JSON type, does not decode, and the event is decoded whole instead."""

    kind: Literal["Event"]
    auditID: str
    stageTimestamp: str
    verb: _Verb | None = None
    stage: _Stage | None = None
    requestURI: str | None = None
    userAgent: str | None = None
    sourceIPs: msgspec.Raw = NO_RAW
    objectRef: ObjectRef = NO_REF
    user: UserInfo = NO_USER
    impersonatedUser: msgspec.Raw = NO_RAW
    responseStatus: ResponseStatus = NO_STATUS
    annotations: msgspec.Raw = NO_RAW
    requestObject: msgspec.Raw = NO_RAW
    responseObject: msgspec.Raw = NO_RAW


# JSON path -> the ``EventHead`` attribute chain holding its value (a string, an int, or None: absent or null).
HEAD_PATHS: Final[Mapping[tuple[str, ...], str]] = {
    ("kind",): "kind", ("auditID",): "auditID", ("stageTimestamp",): "stageTimestamp", ("verb",): "verb",
    ("stage",): "stage", ("requestURI",): "requestURI", ("userAgent",): "userAgent",
    ("objectRef", "resource"): "objectRef.resource", ("objectRef", "subresource"): "objectRef.subresource",
    ("objectRef", "name"): "objectRef.name", ("objectRef", "namespace"): "objectRef.namespace",
    ("user", "username"): "user.username", ("responseStatus", "code"): "responseStatus.code", ("responseStatus", "reason"): "responseStatus.reason",
}
# The paths of ``HEAD_PATHS`` whose value is an int (rendered as its decimal text by the fields); the rest are strings.
HEAD_INTS: Final = frozenset({("responseStatus", "code")})
# JSON path -> the ``EventHead`` attribute chain keeping its value as raw JSON text, parsed by ``AuditEvent.part``
# on first use (an empty text: the path is absent).
RAW_PATHS: Final[Mapping[tuple[str, ...], str]] = {
    ("annotations",): "annotations", ("requestObject",): "requestObject", ("responseObject",): "responseObject",
    ("sourceIPs",): "sourceIPs", ("impersonatedUser",): "impersonatedUser", ("user", "groups"): "user.groups",
}
_RAW_ATTRS: Final = {path: tuple(chain.split(".")) for path, chain in RAW_PATHS.items()}
# The top-level members among them (``AuditEvent.member``).
RAW_MEMBERS: Final = frozenset(path[0] for path in RAW_PATHS if len(path) == 1)

IndexKey = tuple[str | None, str | None, str | None, str | None, str | None]


class AuditEvent:
    """One Kubernetes audit event (``audit.k8s.io`` ``Event``).

    ``ts`` is the event's own time (``stageTimestamp``, ns since the epoch), ``evt_type`` is always ``None`` for
    this source, ``cache`` holds lazily extracted field values for this event only, ``head`` is the typed header
    (``None`` for an event decoded whole) and ``key`` the rule index's memo key, set only with ``head``.
    """

    __slots__ = ("_cache", "_cluster_name", "_members", "head", "key", "obj", "raw", "ts")

    source: Final = SOURCE
    evt_type: Final = None
    obj: dict[str, object]
    ts: int
    raw: bytes | None
    head: EventHead | None
    # (verb, stage, resource, subresource, user name), each a string or None: set with ``head``.
    key: IndexKey
    _cache: dict[object, object] | None  # made on first use; every constructor sets None (an unset slot would
    # raise on the first read, and an exception per event costs more than the whole rest of its field reads)
    _cluster_name: str | None
    _members: dict[tuple[str, ...], object] | None  # parsed raw parts (header events), made on first use

    def __init__(self, obj: dict[str, object], *, ts: int, raw: bytes | None = None,
                 cluster_name: str | None = None) -> None:
        self.obj = obj
        self.ts = ts
        self.raw = raw
        self.head = None
        self._cache = self._members = None
        if cluster_name is not None:
            self._cluster_name = cluster_name  # set by a source configured with one (ka.cluster.name)

    # Most events never need these: they are made on first use, not for every event decoded.
    @property
    def cache(self) -> dict[object, object]:
        cache = self._cache
        if cache is None:
            cache = self._cache = {}
        return cache

    @cache.setter
    def cache(self, value: dict[object, object]) -> None:
        self._cache = value

    @property
    def cluster_name(self) -> str | None:
        try:
            return self._cluster_name
        except AttributeError:
            return None

    @cluster_name.setter
    def cluster_name(self, value: str | None) -> None:
        self._cluster_name = value

    def part(self, path: tuple[str, ...]) -> object:
        """The decoded value at ``path`` (object keys from the top; ``ABSENT`` when there is none). For a path the
        header keeps as raw text (``RAW_PATHS``), parsed on first use, once; otherwise read from ``obj``."""
        value: object = self.obj
        for key in path:
            if type(value) is not dict:
                return ABSENT
            value = value.get(key, ABSENT)
            if value is ABSENT:
                break
        return value

    def member(self, name: str) -> object:
        """``part((name,))``: the decoded value of top-level member ``name`` (``ABSENT`` when there is none)."""
        return self.part((name,))

    @property
    def verb(self) -> str | None:
        """``ka.verb`` as the field renders it (strings as-is, other JSON values as JSON text)."""
        head = self.head
        return head.verb if head is not None else _text(self.obj.get("verb"))

    @property
    def resource(self) -> str | None:
        """``ka.target.resource`` as the field renders it."""
        head = self.head
        if head is not None:
            return head.objectRef.resource
        ref = self.obj.get("objectRef")
        return _text(ref.get("resource")) if type(ref) is dict else None

    @property
    def audit_id(self) -> object:
        head = self.head
        return head.auditID if head is not None else self.obj.get("auditID")

    def __repr__(self) -> str:
        return f"AuditEvent(auditID={self.audit_id!r}, verb={self.verb!r}, resource={self.resource!r})"


def _text(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


_OBJ_SLOT = AuditEvent.__dict__["obj"]  # the slot itself, past the property of the class below


class HeaderEvent(AuditEvent):
    """An ``AuditEvent`` read through its header: ``obj`` is decoded from ``raw`` on first use.

    On that first use the event becomes a plain ``AuditEvent`` (same slots, so the class can be swapped; ``head``
    stays), and every later read of ``obj`` is a plain slot read again. Events never read whole stay this class.
    Built by the decoder (``object.__new__`` and the slots set directly: one per event, so it is kept cheap).
    """

    __slots__ = ()

    @property
    def obj(self) -> dict[str, object]:
        obj: dict[str, object] = orjson.loads(self.raw)  # type: ignore[arg-type]  # the decoder sets raw
        _OBJ_SLOT.__set__(self, obj)
        self.__class__ = AuditEvent  # type: ignore[assignment]  # same slots: a plain event from here on
        return obj

    @obj.setter
    def obj(self, value: dict[str, object]) -> None:
        """A replaced object replaces the event's content: the header no longer describes it."""
        _OBJ_SLOT.__set__(self, value)
        self.head = None
        self.__class__ = AuditEvent  # type: ignore[assignment]

    def part(self, path: tuple[str, ...]) -> object:
        members = self._members
        if members is None:
            members = self._members = {}
        value = members.get(path, members)  # the dict itself: not parsed yet
        if value is members:
            chain = _RAW_ATTRS.get(path)
            head = self.head
            if chain is not None and head is not None:
                raw: object = head
                for attr in chain:
                    raw = getattr(raw, attr)
                # orjson, so numbers are read as a whole decode reads them
                value = orjson.loads(bytes(raw)) if raw else ABSENT  # type: ignore[call-overload]
            else:
                value = AuditEvent.part(self, path)  # decodes the whole event
            members[path] = value
        return value
