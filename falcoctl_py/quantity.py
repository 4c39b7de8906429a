"""Kubernetes resource quantities: parse ``"250m"``/``"1.5"``/``"256Mi"``/``"1G"`` and print them back.

Owns: the conversion between quantity strings and integers (CPU in millicores, memory in bytes) used by sizing,
values and manifest checks. It must not decide sizes (``falcoctl_py.sizing``).
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

_QTY = re.compile(r"^([+]?[0-9]+(?:\.[0-9]+)?|[+]?\.[0-9]+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei|e[0-9]+)?$")
_MULT: dict[str, Decimal] = {
    "": Decimal(1),
    "m": Decimal("0.001"),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
}
MIB = 1 << 20
GIB = 1 << 30


class QuantityError(ValueError):
    """Not a Kubernetes quantity; the message names the text."""


def parse_quantity(text: str | float) -> Decimal:
    """The quantity's value in base units (cores or bytes) as an exact Decimal."""
    if isinstance(text, bool):
        raise QuantityError(f"not a quantity: {text!r}")
    if isinstance(text, (int, float)):
        if text < 0 or (isinstance(text, float) and not math.isfinite(text)):
            raise QuantityError(f"not a non-negative quantity: {text!r}")
        return Decimal(str(text))
    match = _QTY.match(str(text).strip())
    if not match:
        raise QuantityError(f"not a Kubernetes quantity: {text!r}")
    number, suffix = match.group(1), match.group(2) or ""
    try:
        value = Decimal(number)
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only decimals
        raise QuantityError(f"not a Kubernetes quantity: {text!r}") from exc
    if suffix.startswith("e"):
        return value * (Decimal(10) ** int(suffix[1:]))
    return value * _MULT[suffix]


def cpu_millicores(text: str | float) -> int:
    """CPU quantity -> millicores, rounded up (Kubernetes does not allow below 1m)."""
    return math.ceil(parse_quantity(text) * 1000)


def memory_bytes(text: str | float) -> int:
    """Memory quantity -> bytes, rounded up."""
    return math.ceil(parse_quantity(text))


def format_cpu(millicores: int) -> str:
    """``1500 -> "1500m"``, ``2000 -> "2"``, ``250 -> "250m"``."""
    if millicores < 0:
        raise QuantityError(f"negative CPU: {millicores}m")
    if millicores % 1000 == 0 and millicores:
        return str(millicores // 1000)
    return f"{millicores}m"


def format_memory(num_bytes: int) -> str:
    """Bytes -> the largest binary suffix that divides them exactly (``"256Mi"``, ``"2Gi"``), else bytes."""
    if num_bytes < 0:
        raise QuantityError(f"negative memory: {num_bytes} bytes")
    for suffix in ("Ti", "Gi", "Mi", "Ki"):
        unit = int(_MULT[suffix])
        if num_bytes and num_bytes % unit == 0:
            return f"{num_bytes // unit}{suffix}"
    return str(num_bytes)
