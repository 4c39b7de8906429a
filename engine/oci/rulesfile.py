"""Falco rules files as OCI artifacts, in the layout falcoctl pushes and installs.

Owns the artifact format, both ways:

* **build** (``build_artifact``): one layer per rules file, media type
  ``application/vnd.cncf.falco.rulesfile.layer.v1+tar.gz``, a gzip'd tar holding the file under its base name,
  the layer titled (``org.opencontainers.image.title``) ``<stem>.tar.gz`` as falcoctl names it; a config blob
  ``application/vnd.cncf.falco.rulesfile.config.v1+json`` with ``name``, ``version``, ``dependencies``
  (the files' ``required_plugin_versions``, alternatives kept) and ``requirements``
  (``engine_version_semver`` from ``required_engine_version``, the highest one). Tar entries and gzip headers
  carry no timestamps, so the same files make the same digest and a follower sees no change.
* **read** (``read_artifact``): check the config media type, decode the config, unpack every rulesfile layer
  into ``{name: bytes}`` — regular files only, no absolute or ``..`` paths, sizes capped — and
  ``check_engine_requirement``: an artifact that needs a newer engine than ``engine.FALCO_ENGINE_VERSION`` is
  refused (falcoctl's ``engine_version_semver``, or the older integer ``engine_version``).

``pull`` and ``push`` move an artifact through ``engine.oci.registry``. Must not: load or validate rules
(callers do, with ``engine.rules``), or decide where pulled files go.
"""

from __future__ import annotations

import gzip
import io
import re
import tarfile
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import orjson
import yaml

from engine import FALCO_ENGINE_VERSION
from engine.jsonvalue import JSONObject, as_object, as_objects, as_str
from engine.oci.registry import Reference, Registry, RegistryError, sha256_digest

CONFIG_MEDIA_TYPE = "application/vnd.cncf.falco.rulesfile.config.v1+json"
LAYER_MEDIA_TYPE = "application/vnd.cncf.falco.rulesfile.layer.v1+tar.gz"
MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
INDEX_MEDIA_TYPES = ("application/vnd.oci.image.index.v1+json",
                     "application/vnd.docker.distribution.manifest.list.v2+json")
TITLE = "org.opencontainers.image.title"
ENGINE_REQUIREMENT = "engine_version_semver"
MAX_CONFIG_BYTES = 1 << 20
MAX_LAYER_BYTES = 16 << 20
MAX_FILE_BYTES = 32 << 20

_SEMVER = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)")


@dataclass(frozen=True)
class Artifact:
    """A rules artifact: the config document and each file's name and bytes, in layer order."""

    config: JSONObject
    files: dict[str, bytes]
    digest: str = ""
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def engine_requirement(self) -> str | None:
        for req in as_objects(self.config.get("requirements")):
            if req.get("name") == ENGINE_REQUIREMENT:
                return str(req.get("version"))
        for req in as_objects(self.config.get("requirements")):
            if req.get("name") == "engine_version":
                return f"0.{req.get('version')}.0"
        return None


def _semver(text: str) -> tuple[int, int, int] | None:
    m = _SEMVER.match(str(text).strip())
    return (int(m.group(1)), int(m.group(2)), int(m.group(3))) if m else None


def check_engine_requirement(artifact: Artifact, *, where: str, engine_version: str = FALCO_ENGINE_VERSION) -> None:
    """Refuse an artifact whose ``engine_version_semver`` is newer than the engine's (or unreadable)."""
    wanted = artifact.engine_requirement
    if wanted is None:
        return
    need, have = _semver(wanted), _semver(engine_version)
    if need is None:
        raise RegistryError(f"{where}: requirement {ENGINE_REQUIREMENT} {wanted!r} is not a version", kind="invalid")
    if have is not None and need > have:
        raise RegistryError(
            f"{where}: needs engine version {wanted}, this engine implements {engine_version}", kind="invalid"
        )


# -- building ---------------------------------------------------------------------------------------------------


def _requirements_of(files: dict[str, bytes]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(dependencies, requirements) declared by the files themselves, as falcoctl's tooling derives them."""
    engine: tuple[tuple[int, int, int], str] | None = None
    deps: dict[str, dict[str, Any]] = {}
    for raw in files.values():
        try:
            doc = yaml.load(raw, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        except yaml.YAMLError:
            continue  # the caller validated the files; a file we cannot read declares nothing here
        for item in doc if isinstance(doc, list) else ():
            if not isinstance(item, dict):
                continue
            if "required_engine_version" in item:
                value = item["required_engine_version"]
                text = f"0.{value}.0" if isinstance(value, int) else str(value)
                ver = _semver(text)
                if ver is not None and (engine is None or ver > engine[0]):
                    engine = (ver, ".".join(map(str, ver)))
            for plugin in item.get("required_plugin_versions") or () if isinstance(item, dict) else ():
                if isinstance(plugin, dict) and plugin.get("name"):
                    dep: dict[str, Any] = {"name": str(plugin["name"]), "version": str(plugin.get("version", ""))}
                    alts = [{"name": str(a["name"]), "version": str(a.get("version", ""))}
                            for a in plugin.get("alternatives") or () if isinstance(a, dict) and a.get("name")]
                    if alts:
                        dep["alternatives"] = sorted(alts, key=lambda a: a["name"])
                    deps[dep["name"]] = dep
    requirements = [{"name": ENGINE_REQUIREMENT, "version": engine[1]}] if engine else []
    return [deps[k] for k in sorted(deps)], requirements


def _layer_bytes(name: str, data: bytes) -> bytes:
    tar_buf = io.BytesIO()
    with tarfile.open(fileobj=tar_buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = len(data), 0o644, 0
        tar.addfile(info, io.BytesIO(data))
    return gzip.compress(tar_buf.getvalue(), mtime=0)


def layer_title(name: str) -> str:
    """falcoctl's tarball name: the file name up to its first dot, plus ``.tar.gz``."""
    return name.split(".", 1)[0] + ".tar.gz"


@dataclass(frozen=True)
class Built:
    manifest: bytes
    config: bytes
    layers: list[tuple[bytes, str]]  # (tar.gz bytes, title)


def build_artifact(files: dict[str, bytes], *, name: str, version: str = "", source: str | None = None,
                   created: str | None = None) -> Built:
    titles = [layer_title(n) for n in files]
    if len(set(titles)) != len(titles):
        raise RegistryError("two rules files share a name up to their first dot; falcoctl could not tell their "
                            "layers apart: rename one", kind="usage")
    dependencies, requirements = _requirements_of(files)
    config: dict[str, Any] = {"name": name}
    if version:
        config["version"] = version
    if dependencies:
        config["dependencies"] = dependencies
    if requirements:
        config["requirements"] = requirements
    config_raw = orjson.dumps(config)
    layers = [(_layer_bytes(n, data), layer_title(n)) for n, data in files.items()]
    annotations = {"org.opencontainers.image.created": created or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
    if source:
        annotations["org.opencontainers.image.source"] = source
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": {"mediaType": CONFIG_MEDIA_TYPE, "digest": sha256_digest(config_raw), "size": len(config_raw)},
        "layers": [
            {"mediaType": LAYER_MEDIA_TYPE, "digest": sha256_digest(blob), "size": len(blob),
             "annotations": {TITLE: title}}
            for blob, title in layers
        ],
        "annotations": annotations,
    }
    return Built(manifest=orjson.dumps(manifest), config=config_raw, layers=layers)


def push(registry: Registry, ref: Reference, built: Built) -> str:
    """Upload blobs then the manifest under ``ref``'s tag; the manifest digest."""
    with tempfile.TemporaryDirectory(prefix="falcopy-push-") as scratch:
        registry.push_blob_bytes(ref, built.config, scratch=Path(scratch))
        for blob, _ in built.layers:
            registry.push_blob_bytes(ref, blob, scratch=Path(scratch))
    return registry.put_manifest(ref, built.manifest, MANIFEST_MEDIA_TYPE)


# -- reading ----------------------------------------------------------------------------------------------------


def _safe_member_name(name: str, where: str) -> str | None:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts:
        raise RegistryError(f"{where}: tar entry {name!r} escapes the rules directory", kind="invalid")
    parts = [p for p in path.parts if p not in ("", ".")]
    return "/".join(parts) if parts else None


def unpack_layer(blob: bytes, *, where: str) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
            total = 0
            for member in tar:
                if member.isdir():
                    continue
                if not member.isfile():
                    raise RegistryError(f"{where}: tar entry {member.name!r} is not a regular file", kind="invalid")
                name = _safe_member_name(member.name, where)
                if name is None:
                    continue
                total += member.size
                if total > MAX_FILE_BYTES:
                    raise RegistryError(f"{where}: unpacks to more than {MAX_FILE_BYTES} bytes", kind="invalid")
                handle = tar.extractfile(member)
                out[name] = handle.read() if handle is not None else b""
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise RegistryError(f"{where}: layer is not a tar.gz archive ({exc})", kind="invalid") from None
    return out


def read_artifact(registry: Registry, ref: Reference) -> Artifact:
    """Fetch ``ref`` and unpack its rules files; refuses what is not a Falco rulesfile artifact."""
    manifest = registry.get_manifest(ref)
    doc = manifest.json()
    digest = manifest.digest
    if manifest.media_type in INDEX_MEDIA_TYPES or "manifests" in doc:
        entries = [d for m in as_objects(doc.get("manifests")) if (d := as_str(m.get("digest")))]
        if not entries:
            raise RegistryError(f"{ref}: image index lists no manifest", kind="invalid")
        sub = registry.get_manifest(ref.with_digest(entries[0]))
        doc = sub.json()
    config_desc = as_object(doc.get("config"))
    if config_desc.get("mediaType") != CONFIG_MEDIA_TYPE:
        raise RegistryError(
            f"{ref}: not a Falco rulesfile artifact (config media type {config_desc.get('mediaType')!r}, "
            f"expected {CONFIG_MEDIA_TYPE})", kind="invalid")
    raw_config = registry.fetch_blob(ref, str(config_desc.get("digest")), max_bytes=MAX_CONFIG_BYTES)
    try:
        config = orjson.loads(raw_config)
    except orjson.JSONDecodeError as exc:
        raise RegistryError(f"{ref}: config blob is not JSON ({exc})", kind="invalid") from None
    if not isinstance(config, dict):
        raise RegistryError(f"{ref}: config blob is not a JSON object", kind="invalid")
    files: dict[str, bytes] = {}
    layers = [lay for lay in as_objects(doc.get("layers")) if lay.get("mediaType") == LAYER_MEDIA_TYPE]
    if not layers:
        raise RegistryError(f"{ref}: artifact has no {LAYER_MEDIA_TYPE} layer", kind="invalid")
    for layer in layers:
        title = as_object(layer.get("annotations")).get(TITLE) or layer.get("digest")
        blob = registry.fetch_blob(ref, str(layer.get("digest")), max_bytes=MAX_LAYER_BYTES)
        for name, data in unpack_layer(blob, where=f"{ref} layer {title}").items():
            if name in files:
                raise RegistryError(f"{ref}: two layers carry {name!r}", kind="invalid")
            files[name] = data
    if not files:
        raise RegistryError(f"{ref}: its layers hold no file", kind="invalid")
    annotations = {k: v for k, v in as_object(doc.get("annotations")).items() if isinstance(v, str)}
    return Artifact(config=config, files=files, digest=digest, annotations=annotations)
