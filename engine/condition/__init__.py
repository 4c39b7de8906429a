"""Falco's filter condition language: parser, canonical printer, macro/list substitution, event-type algebra,
type checking and compilation to Python.

Owns: the public API other engine packages use (re-exported here). Must not: read rules files (the rules
loader does) or know about event sources beyond the field registry.
"""

from engine.condition.ast import ConditionSyntaxError, Node
from engine.condition.checker import check
from engine.condition.codegen import ConditionTypeError, compile_condition
from engine.condition.evttypes import evttypes
from engine.condition.lists import substitute_lists
from engine.condition.macros import MacroCycleError, macro_refs, substitute_macros
from engine.condition.parser import parse
from engine.condition.printer import to_string

__all__ = [
    "ConditionSyntaxError",
    "ConditionTypeError",
    "MacroCycleError",
    "Node",
    "check",
    "compile_condition",
    "evttypes",
    "macro_refs",
    "parse",
    "substitute_lists",
    "substitute_macros",
    "to_string",
]
