"""Token-level rules of the condition language, after libsinsp's lexer.

Owns: the token patterns (identifiers, field names, field arguments, numbers, bare strings), blank handling,
quoted-string unescaping and the inverse quoting used by the printer and the list substitution.

Must not: know the grammar (``parser`` does) or the AST.

Facts carried over from libsinsp: blanks are space, tab, backspace, CR and LF; a bare string runs up to a
blank, a parenthesis, a comma, ``=`` or a quote; quoted strings use ``'`` or ``"`` with backslash escapes
``\\b \\f \\n \\r \\t \\\\ \\/`` and the delimiter itself (the other quote may not be escaped); a backslash
followed by a space yields a backslash (libsinsp keeps that for old rules).
"""

from __future__ import annotations

import re

BLANKS = " \t\b\r\n"
IDENTIFIER = re.compile(r"[a-zA-Z]+[a-zA-Z0-9_]*")
FIELD_NAME = re.compile(r"[a-zA-Z]+[a-zA-Z0-9_]*(?:\.[a-zA-Z]+[a-zA-Z0-9_]*)+")
FIELD_ARG_BARE = re.compile(r"[^ \b\t\n\r\[\]\"']+")
HEX_NUMBER = re.compile(r"0[xX][0-9a-zA-Z]+")
NUMBER = re.compile(r"[+\-]?[0-9]+\.?[0-9]*(?:[eE][+\-][0-9]+)?")
BARE_STR = re.compile(r"[^ \b\t\n\r(),=\"']+")
NOT_BLANK = re.compile(r"not[ \b\t\n\r]+")

_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "\\": "\\", "/": "/", " ": "\\"}
_QUOTE_OUT = {"\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\", '"': '\\"'}


class EscapeError(ValueError):
    """An unsupported escape inside a quoted string; ``index`` is relative to the opening quote."""

    def __init__(self, message: str, index: int) -> None:
        super().__init__(message)
        self.index = index


def scan_quoted(text: str, pos: int) -> int | None:
    """End index (after the closing quote) of a quoted string starting at ``pos``, or None if unterminated.

    A backslash always escapes the next character here, so ``"a\\\\"`` closes (libsinsp only looks at the
    previous character and would miss that closing quote).
    """
    delim = text[pos]
    i = pos + 1
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == delim:
            return i + 1
        i += 1
    return None


def unescape(quoted: str) -> str:
    """The text of a quoted token (quotes included in ``quoted``), escapes resolved."""
    delim = quoted[0]
    out: list[str] = []
    escaped = False
    for i, ch in enumerate(quoted[1:-1], start=1):
        if not escaped:
            if ch == "\\":
                escaped = True
            else:
                out.append(ch)
            continue
        escaped = False
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch in "\"'":
            if ch != delim:
                raise EscapeError(f"invalid \\{ch} escape in {delim}-quoted string", i - 1)
            out.append(ch)
        else:
            raise EscapeError(f"unsupported string escape sequence: \\{ch}", i - 1)
    return "".join(out)


def needs_quotes(text: str) -> bool:
    """Whether ``text`` must be quoted to read back as one bare-string token with the same value."""
    return BARE_STR.fullmatch(text) is None


def quote(text: str) -> str:
    """``text`` as a double-quoted token (escapes applied) if it needs quoting, else as-is."""
    if not needs_quotes(text):
        return text
    return '"' + "".join(_QUOTE_OUT.get(ch, ch) for ch in text) + '"'
