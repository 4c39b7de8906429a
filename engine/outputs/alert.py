"""Alerts in Falco's shape: the frozen ``Alert`` record, its JSON (orjson) and its text line.

Owns: building an alert from a matched rule and an event, the JSON document
(``hostname, output, output_fields, priority, rule, source, tags, time``) and the text line
(``<time>: <Priority> <output>``). ``time`` is the event's own time (``Event.ts``, ns since the epoch) printed as
UTC ISO-8601 with nanoseconds; the ``output`` string, as in Falco, starts with the event time and the priority.

Must not: deliver alerts (queues and sinks do), evaluate rules, or format ``%field`` tokens (the rules package's
formatter does; this module calls ``rule.formatter.format(event)``).
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from engine.priority import Priority

_HOSTNAME = socket.gethostname()


def iso8601_ns(ts: int) -> str:
    """``1540477752581541000`` -> ``2018-10-25T14:29:12.581541000Z`` (UTC, nanoseconds)."""
    secs, nanos = divmod(int(ts), 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{nanos:09d}Z"


_CLOCK: dict[int, str] = {}  # second -> "HH:MM:SS": alerts come in time order, so this is nearly always a hit


def clock_ns(ts: int) -> str:
    """The time prefix Falco puts before each output line: ``14:29:12.581541000`` (UTC)."""
    secs, nanos = divmod(int(ts), 1_000_000_000)
    hms = _CLOCK.get(secs)
    if hms is None:
        if len(_CLOCK) >= 1024:
            _CLOCK.clear()
        hms = _CLOCK[secs] = time.strftime("%H:%M:%S", time.gmtime(secs))
    return f"{hms}.{nanos:09d}"


@dataclass(frozen=True, slots=True)
class Alert:
    rule: str
    priority: Priority
    source: str
    ts: int
    output: str  # the full line: "<clock>: <Priority> <rule output>"
    output_fields: dict[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    hostname: str = _HOSTNAME

    @property
    def time(self) -> str:
        return iso8601_ns(self.ts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "hostname": self.hostname,
            "output": self.output,
            "output_fields": self.output_fields,
            "priority": self.priority.falco_name,
            "rule": self.rule,
            "source": self.source,
            "tags": sorted(self.tags),
            "time": self.time,
        }

    def to_json(self) -> bytes:
        """One JSON document, no trailing newline (sinks add their own framing)."""
        return orjson.dumps(self.to_dict(), default=str)

    def to_text(self) -> str:
        return self.output


def build_alert(rule: Any, event: Any, *, hostname: str | None = None) -> Alert:
    """The alert for ``rule`` (a ``CompiledRule``) matching ``event``."""
    text, fields = rule.formatter.format(event)
    priority = rule.priority if isinstance(rule.priority, Priority) else Priority.parse(rule.priority)
    line = f"{clock_ns(event.ts)}: {priority.falco_name} {text}"
    return Alert(rule=rule.name, priority=priority, source=event.source, ts=event.ts, output=line,
                 output_fields=dict(fields), tags=tuple(rule.tags or ()), hostname=hostname or _HOSTNAME)
