"""Falco rules loading in three stages -- ``reader`` (YAML with positions), ``collector`` (define / append /
override / enable) and ``compiler`` (lists, macros, exceptions, type checks, code) -- driven by ``loader``.

Owns: the public API: ``load_rules``, ``LoadResult``, ``Finding``, ``Ruleset``, ``CompiledRule``.
Must not: print or exit; the CLI and the runtime decide what findings mean for them.
"""

from engine.rules.findings import Finding, Position
from engine.rules.loader import LoadResult, load_rules
from engine.rules.ruleset import CompiledRule, Ruleset

__all__ = ["CompiledRule", "Finding", "LoadResult", "Position", "Ruleset", "load_rules"]
