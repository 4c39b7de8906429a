"""The engine image's Dockerfile is consistent with the repo (no Docker here): what it copies exists or is built
by ``make wheel``, the final stage has no compiler and runs the engine command the chart runs."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "engine" / "Dockerfile"


def stages() -> list[list[str]]:
    """Instructions per stage, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    out: list[list[str]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            out.append([])
        if out:
            out[-1].append(line)
    return out


def test_multi_stage_slim_base_and_clean_final_stage() -> None:
    build, final = stages()
    assert "slim" in DOCKERFILE.read_text().split("ARG PYTHON_IMAGE=")[1].split()[0]
    assert build[0].endswith("AS build")
    final_text = "\n".join(final)
    assert not re.search(r"\b(gcc|clang|build-essential|apt-get install)\b", final_text)
    assert "COPY --from=build /opt/falco-py /opt/falco-py" in final_text
    assert not any(i.upper().startswith("RUN ") for i in final)  # nothing installed in the final stage


def test_copied_paths_exist_or_come_from_make_wheel() -> None:
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^wheel:.*\n\t.*pip wheel --no-deps -w dist \.", makefile, re.MULTILINE)
    assert re.search(r"^image: wheel\n\tdocker build -f engine/Dockerfile", makefile, re.MULTILINE)
    for instr in (
        i for stage in stages() for i in stage if i.upper().startswith("COPY ") and "--from" not in i
    ):
        src = instr.split()[1]
        if src.startswith("dist"):
            continue  # produced by `make wheel`, which `make image` depends on
        assert (REPO / src).exists(), f"{instr}: {src} missing"


def test_pinned_constraints_cover_runtime_dependencies() -> None:
    pins = {}
    for line in (REPO / "engine" / "image-constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"unpinned: {line}"
            pins[name.lower().replace("_", "-")] = version
    import tomllib

    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    for dep in deps:
        name = re.split(r"[<>=!~\[ ;]", dep, maxsplit=1)[0].lower().replace("_", "-")
        assert name in pins, f"{name} is not pinned for the image"
    assert "--constraint /tmp/constraints.txt" in DOCKERFILE.read_text()


def test_entrypoint_is_the_engine_command_the_chart_runs() -> None:
    final = stages()[-1]
    entry = next(i for i in final if i.startswith("ENTRYPOINT"))
    cmd = next(i for i in final if i.startswith("CMD"))
    argv = yaml.safe_load(entry.split(None, 1)[1]) + yaml.safe_load(cmd.split(None, 1)[1])
    assert argv == ["falcoctl-py", "engine", "run", "--config", "/etc/falco-py/config.yaml"]
    pod = (REPO / "charts" / "falco-py" / "templates" / "_pod.tpl").read_text()
    assert (
        'command: ["falcoctl-py"]' in pod
        and "- engine\n        - run\n        - --config\n        - /etc/falco-py/config.yaml" in pod
    )
    user = next(i for i in final if i.startswith("USER"))
    assert not user.split()[1].startswith("0") and "root" not in user
    from click.testing import CliRunner

    from falcoctl_py.cli.main import cli

    result = CliRunner().invoke(cli, ["engine", "run", "--help"])
    assert result.exit_code == 0 and "--config" in result.output  # the command the image runs exists
