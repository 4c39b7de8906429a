"""Only ``falcoctl_py/helm.py`` starts the helm binary: every process start is seen through a Python audit hook
while real CLI commands that need helm run, and the code that started each helm process is named."""

from __future__ import annotations

import ast
import os
import sys
from pathlib import Path
from types import FrameType

import pytest
from cli_support import require_helm, run

REPO = Path(__file__).resolve().parents[2]
OWNER = REPO / "falcoctl_py" / "helm.py"
_starts: list[tuple[str, str]] | None = None  # (program, file of the project frame that started it) while on


def _project_caller(frame: FrameType | None) -> str:
    while frame is not None:
        path = Path(frame.f_code.co_filename).resolve()
        if path.is_relative_to(REPO / "falcoctl_py") or path.is_relative_to(REPO / "engine"):
            return str(path)
        frame = frame.f_back
    return "<outside the project>"


def _hook(event: str, args: tuple[object, ...]) -> None:
    if _starts is None or event not in ("subprocess.Popen", "os.posix_spawn", "os.exec", "os.spawn"):
        return
    program = args[0]
    if isinstance(program, (bytes, os.PathLike)):
        program = os.fsdecode(program)
    if event == "subprocess.Popen" and program is None:  # Popen(args) without executable: args[0] is it
        argv = args[1]
        program = os.fsdecode(argv[0]) if isinstance(argv, (list, tuple)) else str(argv).split()[0]
    _starts.append((Path(str(program)).name, _project_caller(sys._getframe(1))))


sys.addaudithook(_hook)  # hooks cannot be removed; ``_starts is None`` makes it inert outside this test


@pytest.mark.helm
def test_only_the_helm_module_starts_helm(capsys: pytest.CaptureFixture[str]) -> None:
    global _starts
    require_helm()
    _starts = []
    try:
        code, _out, err = run(capsys, "template", "--profile", "small")
    finally:
        seen, _starts = _starts, None
    assert code == 0, err
    helm = [caller for program, caller in seen if program == "helm"]
    assert helm, f"no helm process was seen: {seen}"  # the hook works: template renders with real helm
    assert set(helm) == {str(OWNER)}


def test_no_other_module_names_a_process_start_with_helm() -> None:
    """Statically: outside helm.py no module calls subprocess/os.exec* with an argument mentioning helm."""
    starters = {"run", "Popen", "check_output", "check_call", "call", "execv", "execvp", "execve", "spawnv"}
    offenders = []
    for path in sorted([*(REPO / "falcoctl_py").rglob("*.py"), *(REPO / "engine").rglob("*.py")]):
        if path == OWNER:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in starters and isinstance(node.func.value, ast.Name)
                    and node.func.value.id in ("subprocess", "os")):
                text = ast.unparse(node.args[0]) if node.args else ""
                if "helm" in text.lower():
                    offenders.append(f"{path.relative_to(REPO)}:{node.lineno}: {text}")
    assert offenders == []
