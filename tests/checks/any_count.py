"""Count ``typing.Any`` in the engine's annotations, split into public signatures and private code.

Public: the parameter and return annotations of a function or method whose name has no leading underscore
(``__init__`` and other dunders count: they are how a class is called), defined at module level or in a class
without a leading underscore, in a module outside any ``_private`` package, and the annotated class-level fields
of such a class (a dataclass field is part of its constructor), and module-level type aliases with a public
name (an alias hides nothing: ``Extractor = Callable[[Any], Any]`` counts where it is defined). Everything else — private helpers, nested
functions, locals, module variables — is private code.

Run ``python tests/checks/any_count.py [--list]`` to print both counts (``--list``: every public one, as
``file:line``); ``tests/checks/test_any_count.py`` keeps the public count at zero.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Hit:
    path: Path
    line: int
    where: str  # the function or field the annotation belongs to
    public: bool


def _names_any(node: ast.AST | None) -> list[int]:
    """Lines of each ``Any`` (``Any`` or ``typing.Any``, also inside string annotations) under ``node``."""
    if node is None:
        return []
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        try:
            inner = ast.parse(node.value, mode="eval")
        except SyntaxError:
            return []
        return [node.lineno for _ in _names_any(inner.body)]
    lines: list[int] = []
    for sub in ast.walk(node):
        bare = isinstance(sub, ast.Name) and sub.id == "Any"
        dotted = (isinstance(sub, ast.Attribute) and sub.attr == "Any" and isinstance(sub.value, ast.Name)
                  and sub.value.id in ("typing", "t"))
        if bare or dotted:
            lines.append(sub.lineno)
        elif isinstance(sub, ast.Constant) and isinstance(sub.value, str) and sub is not node:
            lines.extend(_names_any(sub))
    return lines


def _is_alias(value: ast.expr) -> bool:
    """A module-level assignment that names a type (``Extractor = Callable[[Any], Any]``)."""
    return isinstance(value, (ast.Subscript, ast.BinOp)) or (isinstance(value, ast.Name) and value.id == "Any")


def _signature(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> Iterator[int]:
    args = fn.args
    for arg in (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg):
        if arg is not None:
            yield from _names_any(arg.annotation)
    yield from _names_any(fn.returns)


def _is_public(name: str) -> bool:
    return not name.startswith("_") or (name.startswith("__") and name.endswith("__"))


def _walk(body: list[ast.stmt], path: Path, *, public: bool, owner: str) -> Iterator[Hit]:
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            here = public and _is_public(node.name)
            name = f"{owner}{node.name}"
            for line in _signature(node):
                yield Hit(path, line, name, here)
            yield from _private_body(node.body, path, owner=f"{name}.")
        elif isinstance(node, ast.ClassDef):
            here = public and not node.name.startswith("_")
            yield from _walk(node.body, path, public=here, owner=f"{owner}{node.name}.")
        elif isinstance(node, ast.AnnAssign):
            target = node.target.id if isinstance(node.target, ast.Name) else ""
            field = bool(owner) and public and _is_public(target)  # a class-level field of a public class
            for line in _names_any(node.annotation):
                yield Hit(path, line, f"{owner}{target}", field)
        elif isinstance(node, ast.Assign) and not owner and _is_alias(node.value):
            name = node.targets[0].id if isinstance(node.targets[0], ast.Name) else ""
            for line in _names_any(node.value):  # a type alias is as public as its name
                yield Hit(path, line, name, public and _is_public(name))
        elif isinstance(node, (ast.If, ast.Try, ast.With, ast.For, ast.While)):
            for block in _blocks(node):
                yield from _walk(block, path, public=public, owner=owner)


def _private_body(body: list[ast.stmt], path: Path, *, owner: str) -> Iterator[Hit]:
    """Inside a function everything is private: nested functions, classes and annotated locals."""
    for node in body:
        for sub in ast.walk(node):
            if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for line in _signature(sub):
                    yield Hit(path, line, f"{owner}{sub.name}", False)
            elif isinstance(sub, ast.AnnAssign):
                for line in _names_any(sub.annotation):
                    yield Hit(path, line, owner.rstrip("."), False)


def _blocks(node: ast.If | ast.Try | ast.With | ast.For | ast.While) -> list[list[ast.stmt]]:
    blocks = [node.body, getattr(node, "orelse", [])]
    if isinstance(node, ast.Try):
        blocks += [h.body for h in node.handlers] + [node.finalbody]
    return blocks


def hits(root: Path = REPO / "engine") -> list[Hit]:
    found: list[Hit] = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root.parent)
        public_module = all(_is_public(part) or part == "__init__.py" for part in rel.with_suffix("").parts)
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        found.extend(_walk(tree.body, rel, public=public_module, owner=""))
    return found


def main(argv: list[str]) -> int:
    found = hits()
    public = [h for h in found if h.public]
    if "--list" in argv:
        for h in public:
            print(f"{h.path}:{h.line}: {h.where}")
    print(f"Any in engine's public signatures: {len(public)}; in private code: {len(found) - len(public)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
