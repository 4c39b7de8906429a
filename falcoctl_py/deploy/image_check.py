"""Install's image preflight: the engine image the values name must exist in its registry before anything deploys.

Owns: ``--image REPO[:TAG][@DIGEST]`` turned into chart ``--set`` inputs (``image_sets``), the image reference the
chart will render from the values (``image_of``: registry/repository, tag defaulting to the chart's appVersion,
digest), the credentials a node would pull with — the ``.dockerconfigjson`` of every ``imagePullSecrets`` entry
in the release namespace, then the CLI user's own Docker auth file — and ``check_image``: resolving the manifest
through the OCI distribution API. A missing manifest or refused credentials stop the install with one line; a
registry this host cannot reach stops it too unless it is a dry run (then it is a warning), since a node may
reach a registry the operator's machine cannot (``--no-image-check`` skips the check). The resolved digest is
what the chart pins (``image.digest``) so every node runs the same bytes.

Must not: talk HTTP (``engine.oci.registry`` through ``falcoctl_py.registry``) or build values.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from falcoctl_py.errors import ClusterError, FalcoctlError, UsageError
from falcoctl_py.k8s import Kube, objects
from falcoctl_py.registry import Access, parse_ref


@dataclass(frozen=True)
class ImageCheck:
    image: str  # as the chart renders it before pinning
    digest: str | None  # None: not verified (unreachable registry on a dry run, or check skipped)
    note: str


def image_sets(image: str) -> tuple[str, ...]:
    """``--image`` as chart inputs; a digest given pins it, none clears an earlier pin."""
    try:
        ref = parse_ref(image)
    except FalcoctlError as exc:
        raise UsageError(f"--image: {exc.reason}") from None
    return (f"image.registry={ref.registry}", f"image.repository={ref.repository}",
            f"image.tag={ref.tag or ''}", f"image.digest={ref.digest or ''}")


def chart_app_version() -> str:
    """The tag the chart renders when ``image.tag`` is empty."""
    import yaml

    from falcoctl_py.resources import chart_dir

    doc = yaml.safe_load((chart_dir() / "Chart.yaml").read_text()) or {}
    return str(doc.get("appVersion") or "")


def image_of(values: dict[str, Any], *, app_version: str) -> str:
    img = values.get("image") or {}
    repo = str(img.get("repository") or "")
    if img.get("registry"):
        repo = f"{img['registry']}/{repo}"
    out = f"{repo}:{img.get('tag') or app_version}"
    return out + (f"@{img['digest']}" if img.get("digest") else "")


def pull_secret_auths(kube: Kube | None, namespace: str, values: dict[str, Any],
                      say: Callable[[str], None]) -> tuple[dict[str, tuple[str, str]], list[str]]:
    """Host -> credentials from the release's imagePullSecrets (and the names used)."""
    from engine.oci.registry import RegistryError, auths_from_dockerconfig

    auths: dict[str, tuple[str, str]] = {}
    used: list[str] = []
    for entry in values.get("imagePullSecrets") or []:
        name = str((entry or {}).get("name") or "")
        if not name:
            continue
        secret = objects.read_secret(kube, namespace, name) if kube is not None else None
        if secret is None:
            say(f"warning: imagePullSecret {namespace}/{name} not found: nodes will pull without it")
            continue
        raw = (secret.data or {}).get(".dockerconfigjson") or (secret.data or {}).get(".dockercfg")
        if raw is None:
            say(f"warning: imagePullSecret {namespace}/{name} has no .dockerconfigjson: ignored")
            continue
        try:
            doc = orjson.loads(base64.b64decode(raw))
            if ".dockercfg" in (secret.data or {}) and ".dockerconfigjson" not in (secret.data or {}):
                doc = {"auths": doc}  # the legacy format is the auths mapping itself
            found = auths_from_dockerconfig(doc, where=f"secret {namespace}/{name}")
        except (binascii.Error, orjson.JSONDecodeError, RegistryError) as exc:
            raise ClusterError(f"imagePullSecret {namespace}/{name}: not a Docker config: {exc}") from None
        for host, cred in found.items():
            auths.setdefault(host, cred)
        used.append(name)
    return auths, used


def check_image(values: dict[str, Any], *, kube: Kube | None, namespace: str, app_version: str, dry_run: bool,
                say: Callable[[str], None], access: Access | None = None) -> ImageCheck:
    """Resolve the values' image to its manifest digest in its registry, or refuse with one line."""
    from engine.oci.registry import RegistryError

    image = image_of(values, app_version=app_version)
    ref = parse_ref(image)
    auths, used = pull_secret_auths(kube, namespace, values, say)
    creds = f" with imagePullSecrets {', '.join(used)}" if used else ""
    try:
        client = (access or Access()).client(ref.registry, extra=auths)
        digest = client.resolve(ref)
    except RegistryError as exc:
        if exc.kind == "unreachable":
            if dry_run:
                say(f"warning: image {image} not verified: {exc}")
                return ImageCheck(image, None, "registry unreachable")
            raise ClusterError(f"image {image}: {exc}; cannot verify it exists (pass --no-image-check to deploy "
                               "without the check)") from None
        if exc.kind == "not_found":
            raise ClusterError(f"image {image} does not exist: no manifest in registry {ref.registry} "
                               "(push it with `falcoctl-py image push` or pass --image)") from None
        if exc.kind == "unauthorized":
            raise ClusterError(f"image {image}: registry {ref.registry} refused access{creds or ' anonymously'}"
                               " (add an imagePullSecret with credentials)") from None
        raise ClusterError(f"image {image}: {exc}") from None
    if ref.digest and digest != ref.digest:
        raise ClusterError(f"image {image}: registry answered digest {digest}")
    say(f"image {image}: {digest} in {ref.registry}{creds}")
    return ImageCheck(image, digest, "verified")
