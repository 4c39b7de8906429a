"""List substitution: list names inside value lists replaced by the list's items, working on tokens.

Owns: ``substitute_lists(text, lists)``. Wherever a value list follows ``in``, ``intersects``, ``pmatch`` or a
modifier (``startswith oneof (...)``), each *bare* item that names a list is replaced by that list's items;
``in name`` without parentheses becomes ``in (items...)``. Items are quoted when they would not read back as
one bare token (spaces, commas, parentheses, quotes). Lists that mention lists are expanded recursively (a
cycle stops at the repeated name, which is kept as a plain value). List names that are not one bare token
(``test list``: Falco warns about them but substitutes them) are recognised as items too. Quoted strings,
field arguments (``[...]``) and everything outside value lists are copied unchanged, so ``fd.name = in_list``
or ``"in (x)"`` inside a string are never touched.

Must not: parse the condition into an AST or decide whether a name is a list (the caller's table says).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from engine.condition import lexer
from engine.condition.ast import LIST_OPS, MODIFIERS

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_TRIGGERS = frozenset(LIST_OPS) | frozenset(MODIFIERS)


def substitute_lists(text: str, lists: Mapping[str, Sequence[object]]) -> str:
    """``text`` with list names in value lists replaced by their (quoted where needed) items."""
    if not lists:
        return text
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in "'\"":
            end = lexer.scan_quoted(text, i) or n
            out.append(text[i:end])
            i = end
            continue
        if ch == "[":
            end = text.find("]", i)
            end = n if end < 0 else end + 1
            out.append(text[i:end])
            i = end
            continue
        m = _WORD.match(text, i) if (i == 0 or not _is_word_char(text[i - 1])) else None
        if m is None:
            out.append(ch)
            i += 1
            continue
        word = m.group()
        out.append(word)
        i = m.end()
        if word in _TRIGGERS:
            i = _after_trigger(text, i, word, lists, out)
    return "".join(out)


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() or ch in "_."


def _after_trigger(
    text: str, i: int, word: str, lists: Mapping[str, Sequence[object]], out: list[str]
) -> int:
    """Handle what follows a list operator or modifier at ``i``; returns the new scan position."""
    j = i
    while j < len(text) and text[j] in lexer.BLANKS:
        j += 1
    if j < len(text) and text[j] == "(":
        items, end = _read_list(text, j + 1, _odd_names(lists))
        if end is None:
            return i  # malformed: leave it for the parser to report
        out.append(text[i:j])
        out.append("(" + ", ".join(_expand(items, lists)) + ")")
        return end
    if word in LIST_OPS:
        m = lexer.IDENTIFIER.match(text, j)
        if m and m.group() in lists and (m.end() == len(text) or not _is_word_char(text[m.end()])):
            out.append(text[i:j])
            out.append("(" + ", ".join(_expand([m.group()], lists)) + ")")
            return m.end()
    return i


def _odd_names(lists: Mapping[str, Sequence[object]]) -> tuple[str, ...]:
    """List names that are not one bare token (``test list``); Falco still substitutes those, longest first."""
    return tuple(sorted((n for n in lists if lexer.needs_quotes(n) and n.strip()), key=len, reverse=True))


def _read_list(text: str, i: int, odd_names: tuple[str, ...] = ()) -> tuple[list[str], int | None]:
    """Raw item tokens of a list whose '(' ends before ``i``, and the index after its ')'.

    An item may also be a list name that contains blanks or other delimiters, when it is followed by a blank,
    a comma or the closing parenthesis.
    """
    items: list[str] = []
    n = len(text)
    while True:
        while i < n and text[i] in lexer.BLANKS:
            i += 1
        if i >= n:
            return items, None
        if text[i] == ")" and not items:
            return items, i + 1
        if text[i] in "'\"":
            end = lexer.scan_quoted(text, i)
            if end is None:
                return items, None
        else:
            end = _odd_name_end(text, i, odd_names)
            if end is None:
                m = lexer.BARE_STR.match(text, i)
                if m is None:
                    return items, None
                end = m.end()
        items.append(text[i:end])
        i = end
        while i < n and text[i] in lexer.BLANKS:
            i += 1
        if i < n and text[i] == ",":
            i += 1
            continue
        if i < n and text[i] == ")":
            return items, i + 1
        return items, None


def _odd_name_end(text: str, i: int, odd_names: tuple[str, ...]) -> int | None:
    for name in odd_names:
        end = i + len(name)
        if text.startswith(name, i) and (end >= len(text) or text[end] in lexer.BLANKS + ",)"):
            return end
    return None


def _expand(
    tokens: Sequence[str], lists: Mapping[str, Sequence[object]], seen: frozenset[str] = frozenset()
) -> list[str]:
    out: list[str] = []
    for token in tokens:
        if token in lists and token not in seen:
            texts = [_item_text(item) for item in lists[token]]
            out.extend(
                _expand([lexer.quote(t) if _is_raw_item(t) else t for t in texts], lists, seen | {token})
            )
        else:
            out.append(token)
    return out


def _item_text(item: object) -> str:
    """YAML may hand over numbers and booleans (``[22, 2222]``); they are text in a condition."""
    if isinstance(item, bool):
        return "true" if item else "false"
    return item if isinstance(item, str) else str(item)


def _is_raw_item(item: str) -> bool:
    """List items are values; those already written as quoted tokens in the rules file stay as written."""
    return not (len(item) >= 2 and item[0] == item[-1] and item[0] in "'\"")
