"""The engine image's Dockerfile is consistent with the repo and with the daemonless build that reads it
(``falcoctl-py image build`` runs buildah on this very file): what it copies exists or is made by
``image build --wheels-only``, the build arguments the builder passes are the ones it declares, the final stage
has no compiler and runs the engine command the chart runs. tests/image/ builds and runs the image itself."""

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


def test_stages_and_a_final_stage_without_compiler_or_run_steps() -> None:
    runtime, bpf, build, final = stages()
    assert [runtime[0], bpf[0], build[0]] == [
        "FROM ${BASE_IMAGE} AS runtime", "FROM ${BPF_BASE_IMAGE} AS bpf", "FROM runtime AS build"]
    assert "slim" in DOCKERFILE.read_text().split("ARG BASE_IMAGE=")[1].split()[0]  # what Docker users get
    final_text = "\n".join(final)
    assert final[0] == "FROM runtime"
    assert not re.search(r"\b(gcc|clang|build-essential|apt-get install)\b", final_text)
    assert "COPY --from=build /opt/falco-py /opt/falco-py" in final_text
    assert "COPY --from=bpf /out/ /opt/falco-py/lib/bpf/" in final_text
    assert not any(i.upper().startswith("RUN ") for i in final)  # nothing installed in the final stage
    assert "clang" in "\n".join(bpf) and "*.bpf.c" in "\n".join(bpf)  # compiled in its own stage only


def test_builder_build_args_are_declared_and_label_the_image() -> None:
    from falcoctl_py.image import builder

    text = DOCKERFILE.read_text()
    declared = set(re.findall(r"^ARG (\w+)", text, re.MULTILINE))
    opts = builder.BuildOptions(context=REPO, out=REPO / "x", version="1.2.3", revision="abc")
    args = builder.build_args(opts, base="b", bpf_base="bb")
    passed = set(args)
    assert passed == {"BASE_IMAGE", "BPF_BASE_IMAGE", "VERSION", "REVISION", "SOURCE"} and passed <= declared
    for label, arg in (("source", "SOURCE"), ("version", "VERSION"), ("revision", "REVISION")):
        assert f'org.opencontainers.image.{label}="${{{arg}}}"' in text
    assert args["VERSION"] == "1.2.3" and args["REVISION"] == "abc" and args["SOURCE"].startswith("https://")
    assert builder.DOCKERFILE == "engine/Dockerfile" and builder.WHEELS == "dist/image-wheels"


def test_copied_paths_exist_or_come_from_the_wheels_step() -> None:
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^image-context: setup\n\t.*falcoctl-py image build --wheels-only", makefile, re.MULTILINE)
    assert re.search(r"^image: .*\n\t.*falcoctl-py image build$", makefile, re.MULTILINE)
    for instr in (
        i for stage in stages() for i in stage if i.upper().startswith("COPY ") and "--from" not in i
    ):
        src = instr.split()[1]
        if src.startswith("dist/image-wheels"):
            continue  # written by `image build` (or --wheels-only for docker build)
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
