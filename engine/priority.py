"""Falco's eight priority levels: parsing (case-insensitive, with Falco's aliases) and naming.

Owns: the ordering used by the priority threshold and the words alerts carry (``Warning``, ``Informational``...).
"""

from __future__ import annotations

from enum import IntEnum


class Priority(IntEnum):
    # Lower value = more severe, as in syslog and Falco.
    EMERGENCY = 0
    ALERT = 1
    CRITICAL = 2
    ERROR = 3
    WARNING = 4
    NOTICE = 5
    INFORMATIONAL = 6
    DEBUG = 7

    @property
    def falco_name(self) -> str:
        """How Falco spells it in alerts: ``Warning``, ``Informational``..."""
        return FALCO_NAMES[self]

    @classmethod
    def parse(cls, text: str) -> Priority:
        """Case-insensitive; accepts Falco's aliases INFO and ERR/WARN. Raises ValueError on anything else."""
        key = str(text).strip().upper()
        key = _ALIASES.get(key, key)
        try:
            return cls[key]
        except KeyError:
            raise ValueError(f"Invalid priority level: {text}") from None


_ALIASES = {"INFO": "INFORMATIONAL", "ERR": "ERROR", "WARN": "WARNING", "CRIT": "CRITICAL",
            "EMERG": "EMERGENCY"}

# Priority -> its word in alerts, for hot paths (a dict lookup costs less than the property).
FALCO_NAMES: dict[Priority, str] = {p: p.name.capitalize() for p in Priority}
