"""Runtime helpers the generated condition code calls: transformers, glob/pmatch matchers, IP comparisons and
the slow path for comparisons whose right-hand side is another field.

Owns: the semantics of each operator on one (non-missing) value, for the cases generated code does not
inline. Every helper treats ``None`` (and, for lists, an empty list) as missing and returns False or None.

Must not: import field tables or the AST (the code generator decides which helper to call).

Semantics carried over from libsinsp: ``glob``/``iglob`` follow fnmatch without FNM_PATHNAME (``*`` also
matches ``/``); ``pmatch`` is true when the path equals a listed path or lies under it as a directory (listed paths may hold
glob wildcards, which match within one path component);
``regex`` must match the whole value (RE2 full match, here Python ``re.fullmatch``); ``icontains`` ignores
case; ``in`` on a list field means every element is in the set, ``intersects`` that at least one is.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import ipaddress
import re
from collections.abc import Callable, Iterable, Sized
from typing import Any

IPAny = ipaddress.IPv4Address | ipaddress.IPv6Address
NetAny = ipaddress.IPv4Network | ipaddress.IPv6Network


def glob_matcher(pattern: str, *, ignore_case: bool = False) -> Callable[[str], re.Match[str] | None]:
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    return re.compile(fnmatch.translate(pattern), flags).match


def regex_matcher(pattern: str) -> Callable[[str], re.Match[str] | None]:
    return re.compile(pattern).fullmatch


PmatchTable = tuple[frozenset[str], tuple[str, ...], tuple[tuple[str, ...], ...]]


def pmatch_prefixes(paths: Iterable[str]) -> PmatchTable:
    """Exact paths, directory prefixes (with a trailing '/') and globbed prefixes (split in components)."""
    plain = [p for p in paths if not _has_glob(p)]
    exact = frozenset(p.rstrip("/") or "/" for p in plain)
    dirs = tuple(sorted({p if p.endswith("/") else p + "/" for p in plain}))
    globbed = tuple(tuple((p.rstrip("/") or "/").split("/")) for p in paths if _has_glob(p))
    return exact, dirs, globbed


def _has_glob(path: str) -> bool:
    return any(ch in path for ch in "*?[")


def pmatch(
    value: str | None, exact: frozenset[str], dirs: tuple[str, ...], globbed: tuple[tuple[str, ...], ...]
) -> bool:
    """The path is a listed path or lies under one; glob components match one path component each."""
    if not value:
        return False
    if value in exact or value.startswith(dirs):
        return True
    if globbed:
        parts = value.split("/")
        for pattern in globbed:
            if len(parts) >= len(pattern) and all(
                fnmatch.fnmatchcase(part, pat) for part, pat in zip(parts, pattern, strict=False)
            ):
                return True
    return False


def as_bytes(value: object) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode("utf-8", "surrogateescape")


def as_ip(value: str | int | bytes | IPAny | None) -> IPAny | None:
    if value is None or isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return value
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def ip_in(value: str | int | bytes | IPAny | None, addrs: frozenset[IPAny], nets: tuple[NetAny, ...]) -> bool:
    """An address equal to one of ``addrs`` or inside one of ``nets``."""
    ip = as_ip(value)
    if ip is None:
        return False
    return ip in addrs or any(ip in net for net in nets)


# -- transformers (None in, None out; lists element-wise) -------------------------------------------------------
def _each(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def apply(value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, (list, tuple)):
            out = [r for r in (fn(v) for v in value) if r is not None]
            return out
        return fn(value)

    apply.__name__ = fn.__name__
    return apply


def _b64(value: Any) -> str | None:
    try:
        return base64.b64decode(as_bytes(value), validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return None


def _basename(value: str) -> str:
    return value.rsplit("/", 1)[-1]


def t_len(value: Sized | None) -> int | None:
    return None if value is None else len(value)


def t_join(sep: str, value: object) -> str | None:
    if not value:
        return None
    return sep.join(str(v) for v in value) if isinstance(value, (list, tuple)) else str(value)


def t_concat(*parts: object) -> str | None:
    if any(p is None for p in parts):
        return None
    return "".join(str(p) for p in parts)


TRANSFORMERS: dict[str, Callable[..., Any]] = {
    "tolower": _each(str.lower),
    "toupper": _each(str.upper),
    "b64": _each(_b64),
    "basename": _each(_basename),
    "len": t_len,
    "join": t_join,
    "concat": t_concat,
}


# -- comparisons with a computed right-hand side (val(), transformers) ------------------------------------------
def _scalar(op: str, a: Any, b: Any) -> bool:
    if op in ("=", "==", "in", "intersects"):
        return bool(a == b)
    if op == "!=":
        return bool(a != b)
    if op == "<":
        return bool(a < b)
    if op == "<=":
        return bool(a <= b)
    if op == ">":
        return bool(a > b)
    if op == ">=":
        return bool(a >= b)
    if op in ("contains", "bcontains"):
        return b in a
    if op == "icontains":
        return str(b).lower() in str(a).lower()
    if op in ("startswith", "bstartswith"):
        return bool(a.startswith(b))
    if op == "endswith":
        return bool(a.endswith(b))
    if op == "glob":
        return glob_matcher(b)(a) is not None
    if op == "iglob":
        return glob_matcher(b, ignore_case=True)(a) is not None
    if op == "regex":
        return regex_matcher(b)(a) is not None
    if op == "pmatch":
        return pmatch(a, *pmatch_prefixes([b]))
    raise ValueError(f"unsupported operator {op!r}")


def compare_dynamic(op: str, left: object, right: object) -> bool:
    """``left op right`` where both sides were extracted at run time; lists on either side: any pair."""
    if left is None or right is None or left == [] or right == []:
        return False
    lefts = left if isinstance(left, (list, tuple)) else (left,)
    rights = right if isinstance(right, (list, tuple)) else (right,)
    try:
        if op == "in" and isinstance(left, (list, tuple)):
            return all(x in rights for x in lefts)
        return any(_scalar(op, a, b) for a in lefts for b in rights)
    except (TypeError, AttributeError, re.error):
        return False
