"""``falcoctl-py image build`` and ``image push``: the engine image, built without a daemon and uploaded.

Owns: the command-line contract. ``build`` runs in a source tree (``--context``, default ``.``) and writes an OCI
layout (``--out``, default ``dist/image``), printing its reference, digest and compressed size; ``push``
uploads such a layout to ``--registry HOST[/PATH]`` as ``HOST[/PATH]/engine:<tag>`` and prints the pinned
reference that ``install --image`` takes.

Must not: run buildah or debootstrap (``falcoctl_py.image.builder``), or talk to registries
(``falcoctl_py.image.layout`` through ``engine.oci.registry``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import orjson

from falcoctl_py.errors import UsageError
from falcoctl_py.registry import access_from, parse_ref, registry_errors, registry_options


def _say(line: str) -> None:
    click.echo(line, err=True)


@click.group("image")
def group() -> None:
    """Build the engine image and push it to a registry."""


@group.command("build")
@click.option("--context", type=click.Path(file_okay=False, exists=True, path_type=Path), default=Path("."),
              show_default=True, help="Source tree (holds engine/Dockerfile).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="OCI layout to write (default: CONTEXT/dist/image).")
@click.option("--version", "version", default=None, help="Image tag and version label (default: the engine's).")
@click.option("--revision", default=None, help="Revision label (default: the context's git HEAD).")
@click.option("--source", default=None, help="Source label (default: the project's repository URL).")
@click.option("--suite", default=None, help="Debian suite of the base (default: this host's).")
@click.option("--mirror", default=None, help="Debian archive (default: the one this host's apt uses).")
@click.option("--wheels-only", is_flag=True,
              help="Only write CONTEXT/dist/image-wheels (the context `docker build -f engine/Dockerfile .` needs).")
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
def build(**kw: Any) -> None:
    """Build the engine image with buildah from a debootstrapped Debian base (root, no daemon)."""
    import engine
    from falcoctl_py.image import builder

    context: Path = kw["context"].resolve()
    if kw["wheels_only"]:
        click.echo(str(builder.prepare_wheels(context)))
        return
    opts = builder.BuildOptions(
        context=context,
        out=(kw["out"] or context / "dist" / "image").resolve(),
        version=kw["version"] or engine.__version__,
        revision=kw["revision"] or builder.revision_of(context),
        source=kw["source"] or builder.DEFAULT_SOURCE,
        suite=kw["suite"],
        mirror=kw["mirror"],
    )
    layout = builder.build(opts, say=_say)
    summary = {"image": f"{builder.IMAGE_REPO}:{opts.version}", "layout": str(layout.path), "tag": layout.tag,
               "digest": layout.manifest_digest, "compressed_bytes": layout.compressed_bytes,
               "layers": len(layout.layers), "labels": layout.labels, "user": layout.user}
    if kw["output"] == "json":
        click.echo(orjson.dumps(summary).decode())
        return
    click.echo(f"{summary['image']}@{layout.manifest_digest}: {layout.compressed_bytes / 1e6:.1f} MB compressed "
               f"in {len(layout.layers)} layer(s), OCI layout {layout.path}")


@group.command("push")
@click.option("--registry", "registry", required=True, metavar="HOST[:PORT][/PATH]",
              help="Where the image goes: HOST[/PATH]/NAME:TAG.")
@click.option("--layout", type=click.Path(file_okay=False, path_type=Path), default=Path("dist/image"),
              show_default=True, help="OCI layout written by `image build`.")
@click.option("--name", default="engine", show_default=True, help="Repository name under --registry.")
@click.option("--tag", default=None, help="Tag to push (default: the layout's).")
@registry_options
def push(**kw: Any) -> None:
    """Push the built engine image to a registry."""
    from falcoctl_py.image.layout import push_layout, read_layout

    access = access_from(kw)
    registry = str(kw["registry"]).removeprefix("oci://").removeprefix("docker://").rstrip("/")
    if not registry or "@" in registry or ":" in registry.split("/", 1)[-1] and "/" in registry:
        raise UsageError(f"--registry {kw['registry']!r}: expected HOST[:PORT][/PATH], without a tag")
    layout = read_layout(kw["layout"])
    ref = parse_ref(f"{registry}/{kw['name']}:{kw['tag'] or layout.tag}")
    with registry_errors():
        digest = push_layout(access.client(ref.registry), ref, layout)
    click.echo(f"{ref}@{digest}")
    _say(f"pushed {layout.compressed_bytes / 1e6:.1f} MB; deploy it with: falcoctl-py install --image {ref}")
