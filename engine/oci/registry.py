"""Talking to OCI registries (the distribution API), through the ``oras`` client: the one module that does.

Owns: ``Reference`` (``HOST[:PORT]/REPO[:TAG][@DIGEST]`` parsed and printed), ``Registry`` (resolve a
reference to its manifest digest, fetch and push manifests and blobs, with digests checked), credentials
(``auths_from_dockerconfig``: the ``.dockerconfigjson`` of an imagePullSecret or ``~/.docker/config.json``), and
turning every transport, HTTP and auth failure into ``RegistryError`` with a one-line reason and a ``kind``
(``not_found``, ``unauthorized``, ``unreachable``, ``protocol``). Loopback registries are spoken to over plain
HTTP, as Docker and containerd do; any other host over HTTPS unless ``plain_http`` is asked for.

Basic-auth registries (``WWW-Authenticate: Basic``) get the credentials directly; token registries
(``Bearer``) get them through oras' token flow. Requests have a timeout and connection failures are retried a
bounded number of times (oras' own retry sleeps for minutes).

Must not: know what an artifact means (``engine.oci.rulesfile`` does), read Kubernetes secrets itself (callers
hand over their content), or write anywhere but the paths it is given.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import ipaddress
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import orjson
import requests

from engine.jsonvalue import JSONObject

MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
MAX_MANIFEST_BYTES = 4 << 20


class RegistryError(Exception):
    """A registry operation failed; ``str()`` is one line naming the reference and the cause."""

    def __init__(self, reason: str, *, kind: str = "protocol") -> None:
        super().__init__(reason)
        self.kind = kind


@dataclass(frozen=True)
class Reference:
    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, text: str) -> Reference:
        """``HOST[:PORT]/REPO[:TAG][@sha256:HEX]``; the host part is required (no implicit Docker Hub)."""
        raw = text.strip()
        for scheme in ("oci://", "docker://"):
            raw = raw.removeprefix(scheme)
        name, _, digest = raw.partition("@")
        host, sep, path = name.partition("/")
        if not sep or not path or not ("." in host or ":" in host or host == "localhost"):
            raise RegistryError(f"{text!r}: expected HOST[:PORT]/REPOSITORY[:TAG][@DIGEST]", kind="usage")
        repo, tag = path, None
        last = path.rsplit("/", 1)[-1]
        if ":" in last:
            repo, tag = path.rsplit(":", 1)
        if not repo or repo != repo.lower() or any(not part for part in repo.split("/")):
            raise RegistryError(f"{text!r}: repository {repo!r} must be lower-case path components", kind="usage")
        if digest and not _valid_digest(digest):
            raise RegistryError(f"{text!r}: digest must be sha256:<64 hex digits>", kind="usage")
        return cls(host, repo, tag or (None if digest else "latest"), digest or None)

    @property
    def reference(self) -> str:
        """What goes after ``/manifests/``: the digest when pinned, else the tag."""
        return self.digest or self.tag or "latest"

    def with_digest(self, digest: str) -> Reference:
        return replace(self, digest=digest)

    def __str__(self) -> str:
        out = f"{self.registry}/{self.repository}"
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out


@dataclass(frozen=True)
class Manifest:
    digest: str
    media_type: str
    raw: bytes

    def json(self) -> JSONObject:
        doc = orjson.loads(self.raw)
        if not isinstance(doc, dict):
            raise RegistryError(f"manifest {self.digest} is not a JSON object")
        return doc


def _valid_digest(digest: str) -> bool:
    algo, _, hexpart = digest.partition(":")
    return algo == "sha256" and len(hexpart) == 64 and all(c in "0123456789abcdef" for c in hexpart)


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def is_loopback(host: str) -> bool:
    """``localhost``, ``127.x``, ``[::1]`` with or without a port."""
    name = host[1:].split("]", 1)[0] if host.startswith("[") else host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def auths_from_dockerconfig(doc: object, *, where: str = "docker config") -> dict[str, tuple[str, str]]:
    """``{"auths": {host: {"auth": b64(user:pass)} | {"username", "password"}}}`` -> host -> (user, password)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("auths", {}), dict):
        raise RegistryError(f"{where}: expected an object with an 'auths' mapping")
    out: dict[str, tuple[str, str]] = {}
    for host, entry in (doc.get("auths") or {}).items():
        if not isinstance(entry, dict):
            raise RegistryError(f"{where}: auths.{host}: expected an object")
        user, password = entry.get("username"), entry.get("password")
        if entry.get("auth"):
            try:
                user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError, TypeError):
                raise RegistryError(f"{where}: auths.{host}.auth is not base64 of user:password") from None
        if user and password is not None:
            key = str(host).removeprefix("https://").removeprefix("http://").split("/", 1)[0]
            out[key] = (str(user), str(password))
    return out


def read_json_object(path: Path, what: str) -> dict[str, Any]:
    """The JSON object in the file at ``path`` (``what`` names it in errors): an auth file, an image layout's
    index, manifest or config. Unreadable is ``kind="usage"`` (the path given is wrong), anything but a JSON object
    is ``kind="invalid"``."""
    try:
        doc = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise RegistryError(f"{path}: cannot read {what}: {exc.strerror or exc}", kind="usage") from None
    except orjson.JSONDecodeError as exc:
        raise RegistryError(f"{path}: {what} is not JSON: {exc}", kind="invalid") from None
    if not isinstance(doc, dict):
        raise RegistryError(f"{path}: {what} is not a JSON object", kind="invalid")
    return doc


def load_docker_config(path: Path) -> dict[str, tuple[str, str]]:
    return auths_from_dockerconfig(read_json_object(path, "registry auth file"), where=str(path))


def _oras_registry_class() -> type:
    import oras.provider

    base: type = oras.provider.Registry

    class _Registry(base):  # type: ignore[misc]
        """oras' registry client with bounded retries, a timeout and Basic challenges answered."""

        timeout: float = 15.0
        attempts: int = 3
        basic: str | None = None

        def do_request(self, url: str, method: str = "GET", data: Any = None, headers: dict[str, str] | None = None,
                       json: Any = None, stream: bool = False) -> requests.Response:
            headers = dict(headers or {})
            for attempt in range(self.attempts):
                try:
                    return self._authed(url, method, data, headers, json, stream)
                except (requests.ConnectionError, requests.Timeout) as exc:
                    if attempt == self.attempts - 1:
                        host = url.split("://", 1)[-1].split("/", 1)[0]
                        raise RegistryError(f"registry {host} unreachable: {_short(exc)}", kind="unreachable") from None
                    time.sleep(0.2 * 2**attempt)
            raise AssertionError("unreachable")

        def _send(self, url: str, method: str, data: Any, headers: dict[str, str], json: Any,
                  stream: bool) -> requests.Response:
            resp: requests.Response = self.session.request(
                method, url, data=data, json=json, headers=headers, stream=stream, verify=self._tls_verify,
                timeout=self.timeout)
            return resp

        def _authed(self, url: str, method: str, data: Any, headers: dict[str, str], json: Any,
                    stream: bool) -> requests.Response:
            token = getattr(self.auth, "token", None)
            if token:
                headers["Authorization"] = f"Bearer {token}"
            elif self.basic:
                headers["Authorization"] = f"Basic {self.basic}"
            resp = self._send(url, method, data, headers, json, stream)
            if resp.status_code != 401:
                return resp
            challenge = resp.headers.get("Www-Authenticate", "")
            if challenge.lower().startswith("basic"):
                if not self.basic or headers.get("Authorization") == f"Basic {self.basic}":
                    return resp
                headers["Authorization"] = f"Basic {self.basic}"
                return self._send(url, method, data, headers, json, stream)
            new_headers, changed = self.auth.authenticate_request(resp, headers, refresh=bool(token))
            if not changed:
                return resp
            return self._send(url, method, data, new_headers, json, stream)

    return _Registry


def _short(exc: BaseException) -> str:
    text = str(exc)
    if "NameResolutionError" in text or "Name or service not known" in text:
        return "cannot resolve its host name"
    for marker in ("Failed to establish a new connection: ", "Read timed out", "Connection refused"):
        if marker in text:
            return text.split(marker, 1)[1].rstrip("')\"") or marker.removesuffix(": ")
    return text.splitlines()[0][:200] if text else type(exc).__name__


class Registry:
    """One client per registry host; ``auths`` maps hosts to (user, password)."""

    def __init__(self, host: str, *, auths: dict[str, tuple[str, str]] | None = None,
                 plain_http: bool | None = None, timeout: float = 15.0, tls_verify: bool | str = True) -> None:
        self.host = host
        insecure = is_loopback(host) if plain_http is None else plain_http
        cls = _oras_registry_class()
        self._oras = cls(hostname=host, insecure=insecure, tls_verify=tls_verify, auth_backend="token")
        self._oras.timeout = timeout
        cred = (auths or {}).get(host)
        if cred is not None:
            self._oras.auth.set_basic_auth(*cred)
            self._oras.basic = base64.b64encode(f"{cred[0]}:{cred[1]}".encode()).decode()
        self.scheme = "http" if insecure else "https"

    def _request(self, url: str, method: str, *, data: bytes | None = None, headers: dict[str, str] | None = None,
                 stream: bool = False) -> requests.Response:
        resp: requests.Response = self._oras.do_request(url, method, data=data, headers=headers, stream=stream)
        return resp

    def _url(self, ref: Reference, kind: str, what: str) -> str:
        return f"{self.scheme}://{self.host}/v2/{ref.repository}/{kind}/{what}"

    def _fail(self, resp: requests.Response, what: str) -> RegistryError:
        code = resp.status_code
        detail = ""
        try:
            errors = resp.json().get("errors") or []
            if errors:
                detail = f": {errors[0].get('code', '')} {errors[0].get('message', '')}".rstrip()
        except (ValueError, AttributeError):
            pass
        if code == 404:
            return RegistryError(f"{what}: not found in registry {self.host}{detail}", kind="not_found")
        if code in (401, 403):
            return RegistryError(f"{what}: registry {self.host} refused access (HTTP {code}){detail}",
                                 kind="unauthorized")
        return RegistryError(f"{what}: registry {self.host} answered HTTP {code}{detail}")

    # -- manifests ---------------------------------------------------------------------------------------------

    def resolve(self, ref: Reference) -> str:
        """The manifest digest ``ref`` names (HEAD, falling back to GET when the registry gives no digest)."""
        resp = self._request(self._url(ref, "manifests", ref.reference), "HEAD",
                             headers={"Accept": ", ".join(MANIFEST_TYPES)})
        if resp.status_code != 200:
            raise self._fail(resp, str(ref))
        digest = resp.headers.get("Docker-Content-Digest")
        if digest and _valid_digest(digest):
            return digest
        return self.get_manifest(ref).digest

    def get_manifest(self, ref: Reference, *, accept: tuple[str, ...] = MANIFEST_TYPES) -> Manifest:
        resp = self._request(self._url(ref, "manifests", ref.reference), "GET",
                             headers={"Accept": ", ".join(accept)})
        if resp.status_code != 200:
            raise self._fail(resp, str(ref))
        raw = resp.content
        if len(raw) > MAX_MANIFEST_BYTES:
            raise RegistryError(f"{ref}: manifest is {len(raw)} bytes, over {MAX_MANIFEST_BYTES}")
        digest = sha256_digest(raw)
        if ref.digest and ref.digest != digest:
            raise RegistryError(f"{ref}: registry returned a manifest with digest {digest}")
        media_type = resp.headers.get("Content-Type", "").split(";")[0].strip()
        try:
            media_type = orjson.loads(raw).get("mediaType") or media_type
        except (orjson.JSONDecodeError, AttributeError):
            raise RegistryError(f"{ref}: manifest is not a JSON object") from None
        return Manifest(digest=digest, media_type=media_type, raw=raw)

    def put_manifest(self, ref: Reference, raw: bytes, media_type: str) -> str:
        """Upload ``raw`` unchanged (its digest is what a digest reference will name) under ``ref``'s tag."""
        resp = self._request(self._url(ref, "manifests", ref.tag or sha256_digest(raw)), "PUT",
                             data=raw, headers={"Content-Type": media_type})
        if resp.status_code not in (200, 201, 202):
            raise self._fail(resp, f"pushing manifest {ref}")
        return sha256_digest(raw)

    # -- blobs -------------------------------------------------------------------------------------------------

    def blob_exists(self, ref: Reference, digest: str) -> bool:
        resp = self._request(self._url(ref, "blobs", digest), "HEAD")
        if resp.status_code in (200, 404):
            return resp.status_code == 200
        raise self._fail(resp, f"{ref.registry}/{ref.repository}@{digest}")

    def push_blob(self, ref: Reference, path: Path, *, digest: str, size: int) -> None:
        """Upload a blob from a file unless the repository already has it (oras' monolithic POST+PUT)."""
        if self.blob_exists(ref, digest):  # also turns a refused login into one clear line
            return
        container = self._oras.get_container(f"{ref.registry}/{ref.repository}:{ref.tag or 'latest'}")
        layer = {"digest": digest, "size": size, "mediaType": "application/octet-stream"}
        try:
            resp = self._oras.upload_blob(str(path), container, layer)
        except ValueError as exc:  # oras: no upload session location
            raise RegistryError(f"pushing blob {digest} to {self.host}: {exc}") from None
        if resp.status_code not in (200, 201, 202):
            raise self._fail(resp, f"pushing blob {digest} to {ref.registry}/{ref.repository}")

    def push_blob_bytes(self, ref: Reference, data: bytes, *, scratch: Path) -> str:
        digest = sha256_digest(data)
        path = scratch / digest.replace(":", "-")
        path.write_bytes(data)
        try:
            self.push_blob(ref, path, digest=digest, size=len(data))
        finally:
            path.unlink(missing_ok=True)
        return digest

    def fetch_blob(self, ref: Reference, digest: str, *, max_bytes: int) -> bytes:
        """A blob's bytes, refused past ``max_bytes`` and checked against ``digest``."""
        resp = self._request(self._url(ref, "blobs", digest), "GET", stream=True)
        with resp:
            if resp.status_code != 200:
                raise self._fail(resp, f"{ref.registry}/{ref.repository}@{digest}")
            chunks: list[bytes] = []
            total = 0
            for chunk in resp.iter_content(1 << 16):
                total += len(chunk)
                if total > max_bytes:
                    raise RegistryError(f"blob {digest} is larger than {max_bytes} bytes: refused")
                chunks.append(chunk)
        data = b"".join(chunks)
        if sha256_digest(data) != digest:
            raise RegistryError(f"blob {digest} from {self.host}: content does not match its digest")
        return data
