"""RFC 3339 times -> integer nanoseconds since the epoch: how an audit event's ``stageTimestamp`` becomes its ``ts``.

Owns: ``to_ns`` (any RFC 3339 spelling, seconds to nanoseconds precision, any offset; ``InvalidTime`` for what is
not one) and its caches. Must not: know events, payloads or sources (the decoder and the event model both use it).
"""

from __future__ import annotations

import calendar
import re

# 2018-10-25T14:09:12Z, 2018-10-25T14:09:12.123456Z, ...123456789+02:00
_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9})\d*)?(Z|z|[+-]\d{2}:?\d{2})$")


class InvalidTime(ValueError):
    """Text that is not an RFC 3339 time; ``str()`` quotes it."""


def parse_slow(text: str) -> int:
    """``to_ns`` without the caches (the general grammar)."""
    m = _RFC3339.match(text) if isinstance(text, str) else None
    if m is None:
        raise InvalidTime(f"invalid RFC3339 timestamp {text!r}")
    year, month, day, hour, minute, sec = (int(g) for g in m.groups()[:6])
    frac = m.group(7) or ""
    tz = m.group(8)
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and sec <= 60):
        raise InvalidTime(f"invalid RFC3339 timestamp {text!r}")
    secs = calendar.timegm((year, month, day, hour, minute, sec, 0, 0, 0))
    if tz not in ("Z", "z"):
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        secs -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    return secs * 1_000_000_000 + int(frac.ljust(9, "0") or 0)


# Seconds part ("2018-10-25T14:09:12") -> ns since the epoch. Events arrive in time order, so a small cache of
# recent seconds turns nearly every timestamp into one dict lookup plus the fraction. Only the general parser
# fills it, so a key found there is a valid date and time.
_SECONDS: dict[str, int] = {}
_SECONDS_MAX = 1024
# kube-apiserver's form, "2018-10-25T14:09:12.123456Z", read as seconds + ".123" + "456Z": the two fraction
# tables hold exactly the valid spellings of those parts, so three lookups both check and convert the stamp.
_MILLIS = {f".{n:03d}": n * 1_000_000 for n in range(1000)}
_MICROS_Z = {f"{n:03d}Z": n * 1000 for n in range(1000)}


def to_ns(text: str) -> int:
    """RFC 3339 time (seconds to nanoseconds precision, any offset) -> int nanoseconds since the epoch."""
    try:
        return _SECONDS[text[:19]] + _MILLIS[text[19:23]] + _MICROS_Z[text[23:]]  # kube-apiserver's form
    except (KeyError, TypeError):
        pass
    if type(text) is str and len(text) >= 20 and text[-1] == "Z":
        frac = text[19:-1]
        if not frac or (frac[0] == "." and 1 < len(frac) <= 10 and frac[1:].isdigit() and frac.isascii()):
            head = text[:19]
            base = _SECONDS.get(head)
            if base is None:
                base = parse_slow(head + "Z")
                if len(_SECONDS) >= _SECONDS_MAX:
                    _SECONDS.clear()
                _SECONDS[head] = base
            return base + int(frac[1:].ljust(9, "0")) if frac else base
    return parse_slow(text)
