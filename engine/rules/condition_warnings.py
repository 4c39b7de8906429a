"""Warnings about a rule's resolved condition that do not stop it from loading, as Falco gives them.

Owns: the unsafe ``<NA>`` comparison check (k8s audit fields compared for equality with the literal
``<NA>``), the deprecated ``evt.dir`` field check (in the condition and in the output), and the check for constant strings that read as a field
or a field transformer (``proc.pname``, ``toupper( proc.pname)``: most likely a comparison with another
field meant as ``val(...)`` or an unspaced transformer), with their messages.

Must not: parse, resolve or type-check conditions (the compiler and ``engine.condition`` do).
"""

from __future__ import annotations

from engine.condition.ast import (
    FIELD_TRANSFORMERS,
    VAL,
    FieldRef,
    ListValue,
    Node,
    Value,
)
from engine.condition.walk import compares, field_refs
from engine.rules.exceptions import is_field

UNSAFE_NA = (
    "Comparing a k8s audit field with <NA> is unsafe: <NA> is also what a missing value prints as, so the "
    "result is unpredictable. Use the 'exists' operator to check whether a field is present."
)
_NA_OPS = frozenset({"=", "==", "!=", "in", "intersects", "pmatch"})
EVT_DIR_DEPRECATED = (
    "The 'evt.dir' field is deprecated: Falco no longer delivers enter events, so the "
    "check can be removed from the condition"
)


# Fields Falco still accepts but has deprecated; an output naming one gets a warning (the text is searched,
# as Falco does, so ``%evt.dir`` and ``%evt.dir[...]``-like spellings both count).
DEPRECATED_OUTPUT_FIELDS = ("evt.dir",)


def deprecated_output_fields(output: str) -> list[str]:
    """One warning per deprecated field an output format mentions."""
    return [
        f"usage of deprecated field '{name}' has been detected in the rule output"
        for name in DEPRECATED_OUTPUT_FIELDS
        if name in output
    ]


_TRANSFORMER_PREFIXES = tuple(f"{name}(" for name in (*FIELD_TRANSFORMERS, VAL))


def misused_values(node: Node, source: str) -> list[str]:
    """Warnings for constant values that read as a field or a transformer call once white space is taken
    out, as Falco gives them (each distinct value once, in condition order)."""
    seen: dict[str, str] = {}
    for cmp in compares(node):
        right = cmp.right
        values = right.items if isinstance(right, ListValue) else (right,) if isinstance(right, Value) else ()
        for value in values:
            text = value.text
            if text in seen:
                continue
            bare = "".join(text.split())
            if bare and is_field(source, bare) and "(" not in bare:
                seen[text] = f"'{text}' may be a valid field misused as a const string value"
            elif bare.startswith(_TRANSFORMER_PREFIXES) and bare.endswith(")"):
                seen[text] = f"'{text}' may be a valid field transformer misused as a const string value"
    return list(seen.values())


def unsafe_na_check(node: Node) -> bool:
    """Whether a ka./jevt. field is compared for equality with the literal <NA> (Falco warns about it)."""
    for cmp in compares(node):
        if isinstance(cmp.left, FieldRef) and cmp.left.name.startswith(("ka.", "jevt.")) and cmp.op in _NA_OPS:
            right = cmp.right
            if isinstance(right, Value) and right.text == "<NA>":
                return True
            if isinstance(right, ListValue) and any(v.text == "<NA>" for v in right.items):
                return True
    return False


def uses_evt_dir(node: Node) -> bool:
    return any(ref.name == "evt.dir" for ref in field_refs(node))
