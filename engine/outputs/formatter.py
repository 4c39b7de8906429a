"""Rule output strings: parsing ``%field`` / ``%(field)`` tokens against a source's fields, and rendering.

Owns: ``OutputFormatter`` (built once per rule at load time; an unknown field is a load error worded as Falco
words it, ``invalid formatting token X``; on first use it generates one Python function for the output, as the
condition code generator does for conditions) and the rendering rules: missing values print ``<NA>`` and are
``None`` in ``output_fields``; numbers stay numbers in ``output_fields``; booleans print ``true``/``false``;
list values print as Falco prints them, ``(a,b)``; k8s audit values are already strings.

Must not: evaluate conditions or build alerts (``alert`` does); extractors are the field tables' business.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from engine.condition.ast import FieldRef
from engine.condition.resolve import ResolveError, resolve_field
from engine.fields.base import FieldSpec

if TYPE_CHECKING:
    from engine.events.base import Event

NA = "<NA>"
_FIELD = re.compile(r"[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*(?:\[[^\]]*\])?")


class OutputFormatError(ValueError):
    """An output string that cannot be compiled; ``token`` is the offending text."""

    def __init__(self, message: str, token: str) -> None:
        super().__init__(message)
        self.token = token


@dataclass(frozen=True, slots=True)
class _Token:
    key: str  # the field as written, e.g. "ka.uri.param[pretty]" (the output_fields key)
    spec: FieldSpec
    arg: Any


def _split(output: str) -> list[str | tuple[str, int]]:
    """Literal strings and (field text, offset) pairs, in order."""
    parts: list[str | tuple[str, int]] = []
    literal: list[str] = []
    i, n = 0, len(output)
    while i < n:
        ch = output[i]
        if ch != "%":
            literal.append(ch)
            i += 1
            continue
        if output.startswith("%(", i):
            end = output.find(")", i + 2)
            text = output[i + 2 : end] if end >= 0 else output[i + 2 :]
            nxt = end + 1 if end >= 0 else n
            if end < 0 or _FIELD.fullmatch(text.strip()) is None:
                raise OutputFormatError(f"invalid formatting token {text or output[i:]}", text or output[i:])
            text = text.strip()
        else:
            m = _FIELD.match(output, i + 1)
            if m is None:
                token = output[i + 1 : i + 2] or "%"
                raise OutputFormatError(f"invalid formatting token {token}", token)
            text, nxt = m.group(), m.end()
        if literal:
            parts.append("".join(literal))
            literal = []
        parts.append((text, i))
        i = nxt
    if literal:
        parts.append("".join(literal))
    return parts


def _ref(text: str) -> FieldRef:
    if text.endswith("]") and "[" in text:
        name, arg = text[:-1].split("[", 1)
        return FieldRef(name, arg)
    return FieldRef(text, None)


def render(value: object) -> tuple[str, object]:
    """(text, typed value) for one extracted value."""
    if type(value) is str:  # the common case (k8s audit fields are strings); str() of a str is itself
        return value, value
    if value is None:
        return NA, None
    if isinstance(value, bool):
        return ("true" if value else "false"), value
    if isinstance(value, (int, float)):
        return str(value), value
    if isinstance(value, (list, tuple, set, frozenset)):
        if not value:
            return NA, None
        text = "(" + ",".join(render(v)[0] for v in value) + ")"
        return text, text
    if isinstance(value, bytes):
        text = value.decode("utf-8", "replace")
        return text, text
    text = str(value)
    return text, text


class OutputFormatter:
    """A compiled output string for one source. ``format(event) -> (text, output_fields)``."""

    def __init__(self, output: str, source: str, *, fields: Mapping[str, FieldSpec] | None = None) -> None:
        if fields is None:
            from engine.fields import fields_for_source

            fields = fields_for_source(source)
        self.output = output
        self.source = source
        self._parts: list[str | _Token] = []
        self._format: Any = None  # generated on first use
        for part in _split(output):
            if isinstance(part, str):
                self._parts.append(part)
                continue
            text, _offset = part
            try:
                spec, arg = resolve_field(_ref(text), fields)
            except ResolveError as exc:
                if "nonexistent field" in str(exc):
                    raise OutputFormatError(f"invalid formatting token {text}", text) from None
                raise OutputFormatError(f"invalid formatting token {text}: {exc}", text) from None
            self._parts.append(_Token(text, spec, arg))

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(p.key for p in self._parts if isinstance(p, _Token))

    def format(self, event: Event) -> tuple[str, dict[str, object]]:
        """``(text, output_fields)``; the dict is new on every call (the caller keeps it)."""
        fn = self._format
        if fn is None:
            fn = self._format = _generate(self._parts)
        return fn(event)  # type: ignore[no-any-return]


def _typed(raw: Any, indexed: bool) -> tuple[str, Any]:
    """(text, typed value) of one value that is not a string: ``render``, after an indexed pick's unwrapping."""
    if indexed and isinstance(raw, (list, tuple)) and len(raw) == 1:
        raw = raw[0]  # an indexed pick (proc.aname[2]) is one value, printed bare as Falco prints it
    return render(raw)


def _generate(parts: list[str | _Token]) -> Any:
    """One function ``event -> (text, output_fields)`` for an output's parts, as ``engine.condition.codegen``
    does for conditions: each token's extraction is a statement (an extractor's ``inline`` form when it has one;
    an extractor that raises gives a missing value), strings are used as they are, anything else goes through
    ``_typed``; the text is one f-string, the fields one dict display (a key written twice keeps its last value).

    When some token's extractor has a ``head_value(arg, head) -> str | None`` hook (an expression giving the
    field's value, a string or None, from a k8s audit event's typed header), the function first takes the
    header: for an event read through one (``e.has_header``) those tokens are read from it directly, the others
    as above."""
    consts: dict[str, Any] = {"_T": _typed, "_NA": NA}
    general: list[str] = []  # statements, one line each, unindented
    fast: list[str] = []  # the same for an event with a typed header
    pieces: list[str] = []
    entries: list[str] = []
    for part in parts:
        if isinstance(part, str):
            name = f"L{len(consts)}"
            consts[name] = part
            pieces.append(f"{{{name}}}")
            continue
        i = len(entries)
        call = f"X{len(consts)}(e, {part.arg!r})"
        consts[f"X{len(consts)}"] = part.spec.extract
        inline = getattr(part.spec.extract, "inline", None)
        expr = (inline(part.arg, "e", call) if inline is not None else None) or call
        stmts = ["try:", f"    v{i} = {expr}", "except Exception:", f"    v{i} = None",
                 f"if type(v{i}) is str:", f"    t{i} = v{i}", "else:", f"    t{i}, v{i} = _T(v{i}, {part.arg is not None})"]
        general += stmts
        head_value = getattr(part.spec.extract, "head_value", None)
        head_expr = head_value(part.arg, "h") if head_value is not None else None
        fast += [f"v{i} = {head_expr}", f"t{i} = _NA if v{i} is None else v{i}"] if head_expr else stmts
        pieces.append(f"{{t{i}}}")
        entries.append(f"{part.key!r}: v{i}")
    ret = f"return f\"{''.join(pieces)}\", {{{', '.join(entries)}}}"
    body = [*general, ret]
    if fast != general:
        body = ["if getattr(e, 'has_header', False):", "    h = e", *("    " + line for line in [*fast, ret]), *body]
    src = (f"def _factory({', '.join(consts)}):\n"
           f"    def format(e):\n"
           + "".join(f"        {line}\n" for line in body)
           + "    return format\n")
    namespace: dict[str, Any] = {}
    exec(compile(src, "<output format>", "exec"), namespace)  # noqa: S102 - our own source
    fn = namespace["_factory"](*consts.values())
    fn.__format_source__ = src
    return fn
