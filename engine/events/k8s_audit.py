"""The Kubernetes audit event model: what the ``k8s_audit`` source hands to rules, fields and outputs.

Owns: ``AuditEvent`` (the base both forms share: ``.source``, ``.ts``, ``.evt_type``, ``.cache``, ``.obj``,
``.raw``, ``.cluster_name``, ``part(path)``, ``member(name)``, ``has_header``), its two forms ``HeaderEvent`` and
``DecodedEvent``, the table of JSON paths the header answers (``HEAD_PATHS``) and of the parts it keeps as raw JSON
text (``RAW_PATHS``).

Must not: decode payloads or check them (``engine.sources.k8s_audit.decode`` is the one decoder: it decides which
event is read through the header and which is decoded whole), extract fields, or import any source.

An event comes in one of two forms, with the same values for every field:

* ``HeaderEvent``, **read through its typed header** (the common case): a msgspec Struct decoded from ``raw`` in
  one pass, the event itself holding the members it types (``verb``, ``stage``, ``objectRef``, ``user.username``,
  ``responseStatus``, ...) under their JSON names. ``requestObject``, ``responseObject``, ``annotations`` and the
  rarely read lists (``sourceIPs``, ``user.groups``, ``impersonatedUser``) are kept as raw JSON text and parsed by
  ``part(path)`` on first use, once per event; anything else (``jevt.obj``, a pointer the header does not answer)
  decodes the whole event into ``obj``, once. ``stageTimestamp`` is checked as an RFC 3339 time by the decode
  and turned into ``ts`` on first use (most events are never asked their time).
* ``DecodedEvent``, **decoded whole** (an event whose members are not of the types the header expects, text that
  is not plain ASCII, or one built from a dict): everything is read from ``obj``.

``has_header`` (a class constant) tells them apart where a type test cannot be written (generated code); Python
code narrows with ``type(event) is HeaderEvent``. A value the header holds as ``None`` is a member that is absent
or JSON ``null``; the field semantics treat both as missing, so both forms agree.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, ClassVar, Final, Literal

import msgspec
import orjson

from engine.events.rfc3339 import to_ns

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
# The time as msgspec checks it (an RFC 3339 time with an offset, in C): every text it takes, the general parser
# (``engine.events.rfc3339``) takes too; a text it refuses sends the event to be decoded whole, where the general
# parser decides. msgspec keeps microseconds, so ``ts`` is read from the text itself (see ``HeaderEvent.ts``).
_Stamp = Annotated[datetime.datetime, msgspec.Meta(tz=True)]

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

# JSON path -> the ``HeaderEvent`` attribute chain holding its value (a string, an int, or None: absent or null).
HEAD_PATHS: Final[Mapping[tuple[str, ...], str]] = {
    ("kind",): "kind", ("auditID",): "auditID", ("verb",): "verb",
    ("stage",): "stage", ("requestURI",): "requestURI", ("userAgent",): "userAgent",
    ("objectRef", "resource"): "objectRef.resource", ("objectRef", "subresource"): "objectRef.subresource",
    ("objectRef", "name"): "objectRef.name", ("objectRef", "namespace"): "objectRef.namespace",
    ("user", "username"): "user.username", ("responseStatus", "code"): "responseStatus.code",
    ("responseStatus", "reason"): "responseStatus.reason",
}
# The paths of ``HEAD_PATHS`` whose value is an int (rendered as its decimal text by the fields); the rest are strings.
HEAD_INTS: Final = frozenset({("responseStatus", "code")})
# JSON path -> the ``HeaderEvent`` attribute chain keeping its value as raw JSON text, parsed by
# ``HeaderEvent.part`` on first use (an empty text: the path is absent).
RAW_PATHS: Final[Mapping[tuple[str, ...], str]] = {
    ("annotations",): "annotations", ("requestObject",): "requestObject", ("responseObject",): "responseObject",
    ("sourceIPs",): "sourceIPs", ("impersonatedUser",): "impersonatedUser", ("user", "groups"): "user.groups",
}
_RAW_ATTRS: Final = {path: tuple(chain.split(".")) for path, chain in RAW_PATHS.items()}
# The top-level members among them (``AuditEvent.member``).
RAW_MEMBERS: Final = frozenset(path[0] for path in RAW_PATHS if len(path) == 1)

class AuditEvent:
    """One Kubernetes audit event (``audit.k8s.io`` ``Event``), in one of its two forms (see the module).

    ``ts`` is the event's own time (``stageTimestamp``, ns since the epoch), ``evt_type`` is always ``None`` for
    this source, ``cache`` holds lazily extracted field values for this event only, ``obj`` is the whole decoded
    event and ``raw`` its JSON text (None for an event built from a dict).
    """

    if not TYPE_CHECKING:  # no instance layout of its own, so a msgspec Struct can take it as a mixin; the type
        __slots__ = ()  # checker is not told, as the attributes below live in each form's own slots or fields

    source: Final = SOURCE
    evt_type: Final = None
    has_header: ClassVar[bool] = False
    if TYPE_CHECKING:  # each form stores these its own way
        raw: bytes | None
        _cache: dict[object, object] | None  # made on first use; every constructor sets None (an unset slot would
        # raise on the first read, and an exception per event costs more than the whole rest of its field reads)
        _members: dict[tuple[str, ...], object] | None  # parsed raw parts (header events), made on first use
        cluster_name: str | None  # set by a source configured with one (``ka.cluster.name``)

        @property
        def ts(self) -> int: ...

        @property
        def obj(self) -> dict[str, object]: ...

        @property
        def verb(self) -> str | None: ...  # ``ka.verb`` and ``ka.target.resource``, as the fields render them

        @property
        def resource(self) -> str | None: ...

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

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(auditID={self.obj.get('auditID')!r}, verb={self.verb!r}, "
                f"resource={self.resource!r})")


class DecodedEvent(AuditEvent):
    """An audit event decoded whole: every field reads ``obj``."""

    __slots__ = ("_cache", "_members", "cluster_name", "obj", "raw", "ts")

    obj: dict[str, object]  # plain attributes here; ``ts`` and ``obj`` are lazy properties on HeaderEvent
    ts: int

    def __init__(self, obj: dict[str, object], *, ts: int, raw: bytes | None = None,
                 cluster_name: str | None = None) -> None:
        self.obj = obj
        self.ts = ts
        self.raw = raw
        self._cache = self._members = None
        self.cluster_name = cluster_name

    @property
    def verb(self) -> str | None:
        """``ka.verb`` as the field renders it (strings as-is, other JSON values as JSON text)."""
        return _text(self.obj.get("verb"))

    @property
    def resource(self) -> str | None:
        """``ka.target.resource`` as the field renders it."""
        ref = self.obj.get("objectRef")
        return _text(ref.get("resource")) if type(ref) is dict else None


def _text(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


class _StampText(msgspec.Struct, gc=False):
    """An event's ``stageTimestamp`` as written (every other member skipped): ``HeaderEvent.ts`` reads it."""

    stageTimestamp: str


_read_stamp = msgspec.json.Decoder(_StampText).decode


class HeaderEvent(msgspec.Struct, AuditEvent, gc=False):
    """An audit event read through its typed header: the decoder decodes the event's text into this Struct (its
    JSON members by their names; every other member skipped, its syntax still checked) and sets ``raw``. An
    absent sub-object reads as an empty one; a ``null`` one, or any member of another JSON type, does not decode,
    and the event is decoded whole instead (``DecodedEvent``). ``obj`` is decoded from ``raw`` on first use."""

    kind: Literal["Event"]
    auditID: str
    stageTimestamp: _Stamp
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
    # The event's own state, not JSON members: named so that no audit member is likely to meet them, and typed
    # ``None`` for msgspec, so a member that does meet one is either ``null`` (the default anyway) or sends the
    # event to be decoded whole.
    if TYPE_CHECKING:
        raw: bytes = b""
        _ts: int | None = None
        _obj: dict[str, object] | None = None
        _cache: dict[object, object] | None = None
        _members: dict[tuple[str, ...], object] | None = None
        cluster_name: str | None = None
    else:
        raw: None = msgspec.field(default=None, name=".raw")
        _ts: None = msgspec.field(default=None, name=".ts")
        _obj: None = msgspec.field(default=None, name=".obj")
        _cache: None = msgspec.field(default=None, name=".cache")
        _members: None = msgspec.field(default=None, name=".members")
        cluster_name: None = msgspec.field(default=None, name=".cluster_name")

    has_header: ClassVar[bool] = True

    @property
    def ts(self) -> int:
        """``stageTimestamp`` in ns, read from the event's text on first use: msgspec's datetime keeps
        microseconds, the text may give nanoseconds."""
        ts = self._ts
        if ts is None:
            ts = self._ts = to_ns(_read_stamp(self.raw).stageTimestamp)
        return ts

    @property
    def obj(self) -> dict[str, object]:
        obj = self._obj
        if obj is None:
            obj = self._obj = orjson.loads(self.raw)
        return obj

    def part(self, path: tuple[str, ...]) -> object:
        members = self._members
        if members is None:
            members = self._members = {}
        value = members.get(path, members)  # the dict itself: not parsed yet
        if value is members:
            chain = _RAW_ATTRS.get(path)
            if chain is not None:
                raw: object = self
                for attr in chain:
                    raw = getattr(raw, attr)
                # orjson, so numbers are read as a whole decode reads them
                value = orjson.loads(bytes(raw)) if raw else ABSENT  # type: ignore[call-overload]
            else:
                value = AuditEvent.part(self, path)  # decodes the whole event
            members[path] = value
        return value

    @property
    def resource(self) -> str | None:
        """``ka.target.resource``."""
        return self.objectRef.resource

    def __repr__(self) -> str:
        return f"HeaderEvent(auditID={self.auditID!r}, verb={self.verb!r}, resource={self.resource!r})"
