"""Alerts in Falco's shape: the frozen ``Alert`` record, its JSON (orjson) and its text line.

Owns: building an alert from a matched rule and an event (``Alert`` is a frozen msgspec Struct: one is made per
matched event, and its constructor is one C call), the JSON document
(``hostname, output, output_fields, priority, rule, source, tags, time``) and the text line
(``<time>: <Priority> <output>``). ``time`` is the event's own time (``Event.ts``, ns since the epoch) printed as
UTC ISO-8601 with nanoseconds; the ``output`` string, as in Falco, starts with the event time and the priority.

Must not: deliver alerts (queues and sinks do), evaluate rules, or format ``%field`` tokens (the rules package's
formatter does; this module calls ``rule.formatter.format(event)``).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import msgspec
import orjson

from engine.priority import FALCO_NAMES, Priority

if TYPE_CHECKING:
    from engine.events.base import Event
    from engine.rules.ruleset import CompiledRule

_HOSTNAME = socket.gethostname()


def iso8601_ns(ts: int) -> str:
    """``1540477752581541000`` -> ``2018-10-25T14:29:12.581541000Z`` (UTC, nanoseconds)."""
    secs, nanos = divmod(int(ts), 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{nanos:09d}Z"


_CLOCK: dict[int, str] = {}  # second -> "HH:MM:SS": alerts come in time order, so this is nearly always a hit


def _hms(secs: int) -> str:
    hms = _CLOCK.get(secs)
    if hms is None:
        if len(_CLOCK) >= 1024:
            _CLOCK.clear()
        hms = _CLOCK[secs] = time.strftime("%H:%M:%S", time.gmtime(secs))
    return hms


def clock_ns(ts: int) -> str:
    """The time prefix Falco puts before each output line: ``14:29:12.581541000`` (UTC)."""
    secs, nanos = divmod(int(ts), 1_000_000_000)
    return f"{_hms(secs)}.{nanos:09d}"


class Alert(msgspec.Struct, frozen=True, gc=False):
    """One alert; ``replace(alert, ...)`` makes a changed copy."""

    rule: str
    priority: Priority
    source: str
    ts: int
    output: str  # the full line: "<clock>: <Priority> <rule output>"
    output_fields: dict[str, object] = msgspec.field(default_factory=dict)
    tags: tuple[str, ...] = ()
    hostname: str = _HOSTNAME

    @property
    def time(self) -> str:
        return iso8601_ns(self.ts)

    def to_dict(self) -> dict[str, object]:
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


def replace(alert: Alert, **changes: object) -> Alert:
    """A copy of ``alert`` with ``changes`` (field names as keywords)."""
    return msgspec.structs.replace(alert, **changes)


def build_alert(rule: CompiledRule, event: Event, *, hostname: str | None = None) -> Alert:
    """The alert for ``rule`` (a ``CompiledRule``) matching ``event``.

    ``rule.formatter.format(event)`` must return a fresh ``output_fields`` dict (the alert keeps it).
    """
    return alert_maker(rule, hostname=hostname)(event)


def alert_maker(rule: CompiledRule, *, hostname: str | None = None) -> Callable[[Event], Alert]:
    """``build_alert`` for one rule, with what does not change from event to event worked out once: the priority
    (parsed when given as text) and its word, the tags as a tuple, the formatter and the host name. The engine
    keeps one per rule; each call makes the event's output line and the ``Alert`` in one constructor call."""
    priority: Priority | str = rule.priority
    if type(priority) is not Priority:
        priority = Priority.parse(str(priority))
    word = FALCO_NAMES[priority]
    tags = rule.tags if type(rule.tags) is tuple else tuple(rule.tags or ())
    name, host, fmt = rule.name, hostname or _HOSTNAME, rule.formatter.format
    clock = _CLOCK

    def make(event: Event) -> Alert:
        text, fields = fmt(event)
        ts = event.ts
        secs, nanos = divmod(ts if type(ts) is int else int(ts), 1_000_000_000)
        hms = clock.get(secs) or _hms(secs)  # the lookup inline: nearly always a hit
        return Alert(name, priority, event.source, ts, f"{hms}.{nanos:09d}: {word} {text}", fields, tags, host)

    return make
