"""An OCI image layout on disk (what ``image build`` writes) and uploading it to a registry.

Owns: reading ``index.json`` → the manifest of one tag → its config (labels, user, entrypoint) and layer
descriptors, checking that every blob is present with the size its descriptor says, the image's compressed size,
and ``push_layout``: blobs first (skipped when the repository has them), then the manifest, unchanged, under the
tag, so the digest printed is the digest a node pulls.

Must not: speak HTTP itself (``engine.oci.registry`` does, through oras, and reads the layout's JSON files
with the same reader as auth files) or build images (``builder``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from falcoctl_py.errors import FindingsError, UsageError
from falcoctl_py.registry import registry_errors

if TYPE_CHECKING:
    from engine.oci.registry import Reference, Registry

REF_NAME = "org.opencontainers.image.ref.name"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


@dataclass(frozen=True)
class Blob:
    digest: str
    size: int
    media_type: str


@dataclass(frozen=True)
class ImageLayout:
    path: Path
    tag: str
    manifest_digest: str
    manifest_raw: bytes
    media_type: str
    config: Blob
    layers: tuple[Blob, ...]
    labels: dict[str, str] = field(default_factory=dict)
    user: str = ""
    entrypoint: tuple[str, ...] = ()

    @property
    def compressed_bytes(self) -> int:
        return self.config.size + sum(layer.size for layer in self.layers)

    def blob_path(self, digest: str) -> Path:
        algo, _, hexpart = digest.partition(":")
        return self.path / "blobs" / algo / hexpart


def _load(path: Path, what: str) -> dict[str, Any]:  # the callers check each key they read
    from engine.oci.registry import read_json_object

    with registry_errors():
        return read_json_object(path, what)


def _blob(desc: object, where: str) -> Blob:
    if not isinstance(desc, dict) or not isinstance(desc.get("digest"), str) or not isinstance(desc.get("size"), int):
        raise FindingsError(f"{where}: descriptor without digest and size")
    return Blob(desc["digest"], desc["size"], str(desc.get("mediaType", "")))


def read_layout(path: Path, *, tag: str | None = None) -> ImageLayout:
    """The image tagged ``tag`` in the layout at ``path`` (the only one when ``tag`` is None)."""
    if not (path / "oci-layout").is_file():
        raise UsageError(f"{path}: not an OCI image layout (no oci-layout file): run `make image` first")
    index = _load(path / "index.json", "index")
    entries = [m for m in index.get("manifests") or [] if isinstance(m, dict)]  # type: ignore[attr-defined]
    tags = [str((m.get("annotations") or {}).get(REF_NAME, "")) for m in entries]
    if tag is None and len(entries) == 1:
        chosen = entries[0]
    elif tag in tags:
        chosen = entries[tags.index(tag)]
    else:
        raise UsageError(f"{path}: no image tagged {tag!r} (tags: {', '.join(t for t in tags if t) or 'none'})")
    desc = _blob(chosen, f"{path}/index.json")
    layout = ImageLayout(path, tag or tags[0], desc.digest, b"", desc.media_type, desc, ())
    raw_path = layout.blob_path(desc.digest)
    try:
        raw = raw_path.read_bytes()
    except OSError:
        raise FindingsError(f"{path}: manifest blob {desc.digest} is missing") from None
    manifest = _load(raw_path, "manifest")
    config = _blob(manifest.get("config"), f"manifest {desc.digest}: config")
    raw_layers = manifest.get("layers") or []
    if not isinstance(raw_layers, list):
        raise FindingsError(f"manifest {desc.digest}: layers is not a list")
    layers = tuple(_blob(d, f"manifest {desc.digest}: layers[{i}]") for i, d in enumerate(raw_layers))
    for blob in (config, *layers):
        blob_file = layout.blob_path(blob.digest)
        if not blob_file.is_file() or blob_file.stat().st_size != blob.size:
            raise FindingsError(f"{path}: blob {blob.digest} is missing or not {blob.size} bytes")
    cfg = _load(layout.blob_path(config.digest), "image config").get("config") or {}
    assert isinstance(cfg, dict)
    return ImageLayout(path, layout.tag, desc.digest, raw, str(manifest.get("mediaType") or desc.media_type or
                       OCI_MANIFEST), config, layers, labels=dict(cfg.get("Labels") or {}),
                       user=str(cfg.get("User") or ""), entrypoint=tuple(cfg.get("Entrypoint") or ()))


def push_layout(client: Registry, ref: Reference, layout: ImageLayout) -> str:
    """Upload every blob, then the manifest under ``ref``'s tag; the manifest digest."""
    for blob in (layout.config, *layout.layers):
        client.push_blob(ref, layout.blob_path(blob.digest), digest=blob.digest, size=blob.size)
    return client.put_manifest(ref, layout.manifest_raw, layout.media_type)
