"""The CLI's edge to OCI registries: credentials, the shared click options, and error translation.

Owns: where credentials come from for a registry host — ``--username`` with ``--password-stdin`` or
``FALCOPY_REGISTRY_PASSWORD``, else a Docker-style auth file (``--registry-config``, ``$REGISTRY_AUTH_FILE``,
``$DOCKER_CONFIG/config.json``, ``~/.docker/config.json``), else the ``.dockerconfigjson`` of image pull secrets
handed in by the caller; ``registry_options`` (the click options ``rules push|pull``, ``image push`` share);
and ``registry_errors``: turning ``engine.oci.registry.RegistryError`` into ``FalcoctlError`` (2 for a bad
reference, 1 for an artifact that is not what it should be, 3 for a registry that refuses, lacks the
reference or cannot be reached).

Must not: make registry calls itself (``engine.oci.registry`` does, through oras) or read Kubernetes objects
(callers pass secret contents).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from falcoctl_py.errors import EXIT_CLUSTER, EXIT_FINDINGS, EXIT_USAGE, FalcoctlError

_EXIT = {"usage": EXIT_USAGE, "invalid": EXIT_FINDINGS}


@contextmanager
def registry_errors() -> Iterator[None]:
    from engine.oci.registry import RegistryError

    try:
        yield
    except RegistryError as exc:
        raise FalcoctlError(str(exc), exit_code=_EXIT.get(exc.kind, EXIT_CLUSTER)) from None


@dataclass(frozen=True)
class Access:
    """How to reach registries: explicit credentials (for one host or any), an auth file, plain HTTP."""

    username: str | None = None
    password: str | None = None
    config_file: Path | None = None
    plain_http: bool | None = None

    def auths(self, host: str, *, extra: dict[str, tuple[str, str]] | None = None) -> dict[str, tuple[str, str]]:
        from engine.oci.registry import load_docker_config

        out: dict[str, tuple[str, str]] = dict(extra or {})
        path = self.config_file or _default_auth_file()
        if path is not None and (self.config_file is not None or path.is_file()):
            for key, cred in load_docker_config(path).items():
                out.setdefault(key, cred)
        if self.username is not None:
            out[host] = (self.username, self.password or "")
        return out

    def client(self, host: str, *, extra: dict[str, tuple[str, str]] | None = None) -> Any:
        from engine.oci.registry import Registry

        return Registry(host, auths=self.auths(host, extra=extra), plain_http=self.plain_http)


def _default_auth_file() -> Path | None:
    if os.environ.get("REGISTRY_AUTH_FILE"):
        return Path(os.environ["REGISTRY_AUTH_FILE"])
    base = os.environ.get("DOCKER_CONFIG")
    return Path(base) / "config.json" if base else Path.home() / ".docker" / "config.json"


def registry_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    for opt in reversed(
        [
            click.option("--username", default=None, envvar="FALCOPY_REGISTRY_USERNAME",
                         help="Registry user (password from --password-stdin or $FALCOPY_REGISTRY_PASSWORD)."),
            click.option("--password-stdin", is_flag=True, help="Read the registry password from stdin."),
            click.option("--registry-config", type=click.Path(dir_okay=False, path_type=Path), default=None,
                         help="Docker-style auth file (default: $REGISTRY_AUTH_FILE, ~/.docker/config.json)."),
            click.option("--plain-http", is_flag=True, default=None,
                         help="Speak HTTP, not HTTPS (loopback registries always do)."),
        ]
    ):
        fn = opt(fn)
    return fn


def access_from(kw: dict[str, Any]) -> Access:
    """Pop the ``registry_options`` keys from a command's kwargs."""
    username = kw.pop("username")
    password = None
    if kw.pop("password_stdin"):
        password = sys.stdin.readline().rstrip("\r\n")
    elif username is not None:
        password = os.environ.get("FALCOPY_REGISTRY_PASSWORD")
    if username is not None and password is None:
        raise FalcoctlError("--username needs --password-stdin or $FALCOPY_REGISTRY_PASSWORD",
                            exit_code=EXIT_USAGE)
    return Access(username=username, password=password, config_file=kw.pop("registry_config"),
                  plain_http=kw.pop("plain_http") or None)


def parse_ref(text: str) -> Any:
    from engine.oci.registry import Reference

    with registry_errors():
        return Reference.parse(text)
