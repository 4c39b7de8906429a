"""``falcoctl-py rules push REF FILE...`` and ``rules pull REF``: rules files as falcoctl-compatible OCI artifacts.

Owns: the command-line contract — push validates the files first (a file that does not load is a finding, exit
1, nothing is pushed), names the artifact after the reference's repository unless ``--name`` says otherwise,
and prints the manifest digest; pull writes the artifact's files into ``--dir`` (refusing one that needs a
newer engine, or whose files do not load with ``--validate``) and prints each path.

Must not: build or read the artifact format (``engine.oci.rulesfile``) or talk to the registry
(``engine.oci.registry``, reached through ``falcoctl_py.registry``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from falcoctl_py.errors import FindingsError, UsageError
from falcoctl_py.registry import access_from, parse_ref, registry_errors, registry_options


def _check_loads(files: list[Path]) -> None:
    from engine.rules import load_rules

    result = load_rules(files)
    if not result.successful:
        first = result.errors[0].to_text("error")
        raise FindingsError(f"{len(result.errors)} error(s) loading the rules, first: {first}")


@click.command("push")
@click.argument("ref")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", default=None, help="Artifact name in its config (default: the repository's last part).")
@click.option("--version", "version", default="", help="Artifact version in its config (e.g. 1.2.0).")
@click.option("--annotation-source", default=None, help="org.opencontainers.image.source of the manifest.")
@registry_options
def push(**kw: Any) -> None:
    """Push rules files to REF as a Falco rulesfile artifact."""
    from engine.oci import rulesfile

    access = access_from(kw)
    ref = parse_ref(kw["ref"])
    files: list[Path] = list(kw["files"])
    names = [p.name for p in files]
    if len(set(names)) != len(names):
        raise UsageError(f"two files are named {next(n for n in names if names.count(n) > 1)!r}")
    _check_loads(files)
    content = {p.name: p.read_bytes() for p in files}
    with registry_errors():
        built = rulesfile.build_artifact(content, name=kw["name"] or ref.repository.rsplit("/", 1)[-1],
                                         version=kw["version"], source=kw["annotation_source"])
        digest = rulesfile.push(access.client(ref.registry), ref, built)
    click.echo(f"{ref.registry}/{ref.repository}@{digest}")


@click.command("pull")
@click.argument("ref")
@click.option("-d", "--dir", "dest", default=".", show_default=True, type=click.Path(file_okay=False, path_type=Path),
              help="Directory to write the rules files into.")
@click.option("--validate/--no-validate", default=True, show_default=True, help="Load the pulled files first.")
@registry_options
def pull(**kw: Any) -> None:
    """Pull a Falco rulesfile artifact and write its files."""
    from engine.oci import rulesfile

    access = access_from(kw)
    ref = parse_ref(kw["ref"])
    with registry_errors():
        artifact = rulesfile.read_artifact(access.client(ref.registry), ref)
        rulesfile.check_engine_requirement(artifact, where=str(ref))
    dest: Path = kw["dest"]
    written = write_files(artifact.files, dest, validate=kw["validate"])
    for path in written:
        click.echo(str(path))
    click.echo(f"pulled {ref.registry}/{ref.repository}@{artifact.digest}: {len(written)} file(s)", err=True)


def write_files(files: dict[str, bytes], dest: Path, *, validate: bool) -> list[Path]:
    """Write through a staging directory, so a refused artifact leaves ``dest`` as it was."""
    import tempfile

    try:
        dest.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=".pull-", dir=dest))
    except OSError as exc:
        raise UsageError(f"{dest}: cannot write: {exc.strerror or exc}") from None
    try:
        staged = []
        for name, data in files.items():
            path = stage / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            staged.append(path)
        if validate:
            _check_loads([p for p in staged if p.suffix in (".yaml", ".yml")])
        out = []
        for path in staged:
            target = dest / path.relative_to(stage)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)
            out.append(target)
        return out
    finally:
        import shutil

        shutil.rmtree(stage, ignore_errors=True)
