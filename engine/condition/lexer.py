"""Token-level rules of the condition language, after libsinsp's lexer.

Owns: the token patterns (identifiers, field names, field arguments, numbers, bare strings), blank handling,
quoted-string unescaping and the inverse quoting used by the printer and the list substitution.

Must not: know the grammar (``parser`` does) or the AST.

Facts carried over from libsinsp: blanks are space, tab, backspace, CR and LF; a bare string runs up to a
blank, a parenthesis, a comma, ``=`` or a quote; quoted strings use ``'`` or ``"`` with backslash escapes
``\\b \\f \\n \\r \\t \\\\ \\/``, ``\\xHH`` (one byte, newer Falco) and the delimiter itself (the other quote may
not be escaped); a backslash followed by a space yields a backslash (libsinsp keeps that for old rules).
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
    """The text of a quoted token (quotes included in ``quoted``), escapes resolved.

    ``\\xHH`` (exactly two hex digits, newer Falco) is one byte: below 0x80 the ASCII character, above it the
    lone surrogate ``U+DC80..U+DCFF`` that Python's ``os.fsdecode`` uses for a byte that is not UTF-8, so a
    condition can match a file name holding an invalid byte.
    """
    delim = quoted[0]
    body = quoted[1:-1]
    out: list[str] = []
    i, n = 0, len(body)
    while i < n:
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        nxt = body[i + 1] if i + 1 < n else ""
        if nxt in _ESCAPES and nxt:
            out.append(_ESCAPES[nxt])
        elif nxt in ("'", '"'):
            if nxt != delim:
                raise EscapeError(f"invalid \\{nxt} escape in {delim}-quoted string", i + 1)
            out.append(nxt)
        elif nxt == "x":
            digits = body[i + 2 : i + 4]
            if len(digits) != 2 or any(c not in "0123456789abcdefABCDEF" for c in digits):
                raise EscapeError("invalid \\x escape: expected exactly two hexadecimal digits", i + 1)
            code = int(digits, 16)
            out.append(chr(code) if code < 0x80 else chr(0xDC00 + code))
            i += 2
        else:
            raise EscapeError(f"unsupported string escape sequence: \\{nxt}", i + 1)
        i += 2
    return "".join(out)


def _escape_char(ch: str) -> str:
    if ch in _QUOTE_OUT:
        return _QUOTE_OUT[ch]
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x20 or code == 0x7F:
        return f"\\x{code:02x}"
    return ch


def _is_raw(ch: str) -> bool:
    code = ord(ch)
    return code < 0x20 or code == 0x7F or 0xDC80 <= code <= 0xDCFF


def needs_quotes(text: str) -> bool:
    """Whether ``text`` must be quoted to read back as one bare-string token with the same value."""
    return BARE_STR.fullmatch(text) is None or any(_is_raw(ch) for ch in text)


def quote(text: str) -> str:
    """``text`` as a double-quoted token (escapes applied) if it needs quoting, else as-is."""
    if not needs_quotes(text):
        return text
    return '"' + "".join(_escape_char(ch) for ch in text) + '"'
