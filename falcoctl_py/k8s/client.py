"""Kubernetes API access: client construction (kubectl's ``--kubeconfig``/``--context``) and error translation.

Owns: the only ``kubernetes`` client construction in falcoctl_py, and turning ``ApiException``, urllib3 errors and
kubeconfig errors into ``ClusterError`` one-liners (exit 3) that name the operation that failed. Other modules in
this package call the API through ``Kube.call`` so no third-party exception escapes. It must not decide what to
create or how to deploy (``falcoctl_py.deploy``) and must not run helm.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from falcoctl_py.errors import ClusterError, UnreachableError

T = TypeVar("T")
REQUEST_TIMEOUT_S = 15.0


def _status_message(exc: ApiException) -> str:
    """The API server's own ``Status.message`` when the body carries one, else the HTTP reason."""
    body = getattr(exc, "body", None)
    if body:
        try:
            doc = json.loads(body)
        except (TypeError, ValueError):
            doc = None
        if isinstance(doc, dict) and doc.get("message"):
            return str(doc["message"]).splitlines()[0]
    return str(exc.reason or "no reason given").splitlines()[0]


def translate(exc: BaseException, what: str, *, server: str = "") -> ClusterError:
    """A one-line ``ClusterError`` for a failed API operation ``what``."""
    where = f" ({server})" if server else ""
    if isinstance(exc, ApiException):
        status = exc.status or 0
        if status == 0:
            return ClusterError(f"{what}: unreadable API response{where}: {_status_message(exc)}")
        hint = {401: " (credentials rejected)", 403: " (forbidden: missing RBAC permission)"}.get(status, "")
        return ClusterError(f"{what}: HTTP {status}{hint}: {_status_message(exc)}")
    if isinstance(exc, urllib3.exceptions.HTTPError):
        reason = getattr(exc, "reason", None) or exc
        text = str(reason).splitlines()[0]
        if "NewConnectionError" in type(reason).__name__ or "refused" in text.lower():
            text = "connection refused"
        return UnreachableError(f"{what}: API server unreachable{where}: {text}")
    if isinstance(exc, ConfigException):
        return ClusterError(f"kubeconfig: {str(exc).splitlines()[0]}")
    return ClusterError(f"{what}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")


@dataclass
class Kube:
    """A connected API client; ``call`` runs one API operation and translates its failure."""

    api: client.ApiClient
    context: str | None = None

    @property
    def server(self) -> str:
        return str(self.api.configuration.host)

    def call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        kwargs.setdefault("_request_timeout", REQUEST_TIMEOUT_S)
        try:
            return fn(*args, **kwargs)
        except (ApiException, urllib3.exceptions.HTTPError, ConfigException, ValueError) as exc:
            raise translate(exc, what, server=self.server) from exc

    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)

    def apps(self) -> client.AppsV1Api:
        return client.AppsV1Api(self.api)

    def discovery(self) -> client.DiscoveryV1Api:
        return client.DiscoveryV1Api(self.api)

    def authz(self) -> client.AuthorizationV1Api:
        return client.AuthorizationV1Api(self.api)

    def raw_get(self, what: str, path: str, *, timeout: float = REQUEST_TIMEOUT_S) -> bytes:
        """GET an API server path (``/version``, a pod proxy URL) and return the body, whatever its content type."""

        def _get() -> bytes:
            params = self.api.param_serialize(method="GET", resource_path=path, auth_settings=["BearerToken"])
            resp = self.api.call_api(*params, _request_timeout=timeout)
            resp.read()
            if not 200 <= resp.status < 300:
                raise ApiException(http_resp=resp)
            return bytes(resp.data or b"")

        return self._raw(what, _get)

    def _raw(self, what: str, fn: Callable[[], bytes]) -> bytes:
        try:
            return fn()
        except (ApiException, urllib3.exceptions.HTTPError) as exc:
            raise translate(exc, what, server=self.server) from exc

    def server_version(self) -> str:
        """``gitVersion`` from ``/version`` (the generated client asks ``/version/``, which not every server serves)."""
        body = self.raw_get("reading the server version", "/version")
        try:
            doc = json.loads(body)
            return str(doc["gitVersion"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ClusterError(
                f"reading the server version: unexpected /version body from {self.server}"
            ) from exc


def connect(*, context: str | None = None, kubeconfig: str | None = None) -> Kube:
    """Build a client the way kubectl picks one: ``--kubeconfig``, else ``$KUBECONFIG``/``~/.kube/config``, else
    the in-cluster service account; ``--context`` selects a context from the kubeconfig."""
    configuration = client.Configuration()
    try:
        if kubeconfig is None and context is None and _in_cluster_possible():
            config.load_incluster_config(client_configuration=configuration)
        else:
            config_file = _kubeconfig_file(kubeconfig)
            config.load_kube_config(
                config_file=config_file, context=context, client_configuration=configuration
            )
    except ConfigException as exc:
        raise translate(exc, "kubeconfig") from exc
    except FileNotFoundError as exc:
        raise ClusterError(f"kubeconfig {exc.filename or kubeconfig}: no such file") from exc
    except (OSError, ValueError, TypeError) as exc:  # a malformed kubeconfig surfaces as these
        raise ClusterError(f"kubeconfig {kubeconfig or '(default)'}: {str(exc).splitlines()[0]}") from exc
    configuration.retries = 0  # an unreachable server should fail now, not after urllib3's backoff
    return Kube(api=client.ApiClient(configuration), context=context)


def _kubeconfig_file(kubeconfig: str | None) -> str:
    """The kubeconfig path (or ``$KUBECONFIG`` list) kubectl would read; ``ClusterError`` naming it when none of
    its files exists (the kubernetes library would only say "No configuration found", without the path)."""
    import os

    spec = kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
    paths = [os.path.expanduser(p) for p in spec.split(os.pathsep) if p]
    if not any(os.path.exists(p) for p in paths):
        raise ClusterError(f"kubeconfig {spec}: no such file")
    return spec


def _in_cluster_possible() -> bool:
    import os

    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and not (
        os.environ.get("KUBECONFIG") or os.path.exists(os.path.expanduser("~/.kube/config"))
    )
