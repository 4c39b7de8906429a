"""Transformers: tolower, toupper, b64, basename, len, join, concat, and val() on the right-hand side."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest

Eval = Callable[..., bool]
B64 = base64.b64encode(b"curl http://x").decode()


@pytest.mark.parametrize(
    ("text", "values", "expected"),
    [
        ("tolower(proc.name) = bash", {"proc.name": "BaSh"}, True),
        ("toupper(proc.name) = BASH", {"proc.name": "bash"}, True),
        ("toupper(proc.name) = bash", {"proc.name": "bash"}, False),
        ("basename(fd.name) = passwd", {"fd.name": "/etc/passwd"}, True),
        ("basename(fd.name) = passwd", {"fd.name": "passwd"}, True),
        ("toupper(basename(fd.name)) = PASSWD", {"fd.name": "/etc/passwd"}, True),
        ("b64(proc.cmdline) contains curl", {"proc.cmdline": B64}, True),
        ("b64(proc.cmdline) exists", {"proc.cmdline": "%%%not base64"}, False),
        ("len(proc.name) = 4", {"proc.name": "bash"}, True),
        ("len(proc.args) > 1", {"proc.args": ["a", "b"]}, True),
        ("len(proc.args) > 1", {"proc.args": ["a"]}, False),
        ("len(proc.args) = 0", {"proc.args": []}, True),
        ("tolower(proc.args) = abc", {"proc.args": ["X", "ABC"]}, True),
        ("tolower(proc.args) in (abc, x)", {"proc.args": ["X", "ABC"]}, True),
        ("join(',', proc.args) = 'a,b'", {"proc.args": ["a", "b"]}, True),
        ("concat(proc.name, ':', proc.pname) = 'sh:bash'", {"proc.name": "sh", "proc.pname": "bash"}, True),
        ("concat(proc.name, ':', proc.pname) exists", {"proc.name": "sh"}, False),
        ("proc.name = val(proc.pname)", {"proc.name": "sh", "proc.pname": "sh"}, True),
        ("proc.name = val(proc.pname)", {"proc.name": "sh", "proc.pname": "bash"}, False),
        ("proc.name != val(proc.pname)", {"proc.name": "sh", "proc.pname": "bash"}, True),
        ("proc.cmdline contains val(proc.name)", {"proc.cmdline": "x bash y", "proc.name": "bash"}, True),
        ("fd.name startswith val(proc.cmdline)", {"fd.name": "/tmp/a", "proc.cmdline": "/tmp"}, True),
        ("evt.num > val(proc.pid)", {"evt.num": 5, "proc.pid": 3}, True),
        ("proc.name = tolower(proc.pname)", {"proc.name": "bash", "proc.pname": "BASH"}, True),
        ("proc.args intersects val(proc.args)", {"proc.args": ["a", "sh"]}, True),
        ("tolower(proc.args) intersects toupper(proc.args)", {"proc.args": ["a", "B"]}, False),
        ("tolower(proc.args) in tolower(proc.args)", {"proc.args": ["a", "B"]}, True),
    ],
)
def test_transformer(evaluate: Eval, text: str, values: dict, expected: bool) -> None:
    assert evaluate(text, values) is expected
