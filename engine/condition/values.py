"""Literal values converted to the Python value a field type compares with, once, at compile time.

Owns: ``convert_value(text, ftype)`` and the number/bool/IP parsing rules. Numbers accept decimal (with sign,
fraction and exponent for doubles) and ``0x`` hex; bools are ``true``/``false``; ``ipaddr`` values are
addresses and ``ipnet`` values are networks (an address means a /32 or /128); byte buffers compare as UTF-8
bytes; every other type compares as text (k8s audit values are strings, so ``ka.resp.code = 200`` compares
the text "200").

Must not: know about operators or the AST.
"""

from __future__ import annotations

import ipaddress

from engine.fields.base import FieldType


class ValueError_(ValueError):
    """A literal that does not fit the field's type."""


def convert_value(text: str, ftype: FieldType) -> object:
    if ftype.is_numeric:
        return _number(text, ftype)
    if ftype is FieldType.BOOL:
        if text == "true":
            return True
        if text == "false":
            return False
        raise ValueError_(f"unrecognized boolean value '{text}' (expected true or false)")
    if ftype is FieldType.IPADDR:
        try:
            return ipaddress.ip_address(text)
        except ValueError:
            raise ValueError_(f"unrecognized IP address '{text}'") from None
    if ftype is FieldType.IPNET:
        try:
            return ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise ValueError_(f"unrecognized IP network '{text}'") from None
    if ftype is FieldType.BYTEBUF:
        return text.encode("utf-8", "surrogateescape")
    return text


def _number(text: str, ftype: FieldType) -> int | float:
    try:
        if text[:2].lower() == "0x":
            return int(text, 16)
        if ftype is FieldType.DOUBLE:
            return float(text)
        return int(text, 10)
    except (ValueError, IndexError):
        raise ValueError_(f"'{text}' is not a valid number for a {ftype.value} field") from None
