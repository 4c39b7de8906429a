"""Which Debian archive this host's apt uses: the image's base is bootstrapped from the same one.

Owns: reading apt's source lists — ``sources.list`` and ``sources.list.d/*.list`` (one-line ``deb [opts] URI SUITE
COMPONENT...``) and ``sources.list.d/*.sources`` (deb822 stanzas, ``Enabled: no`` honoured) — and picking the
first ``deb`` source that serves a suite's ``main`` component. Files with other suffixes (``*.disabled``,
``*.save``) are ignored, as apt ignores them. The host's Debian suite comes from ``/etc/os-release``.

Must not: run apt or debootstrap, or touch the network (``falcoctl_py.image.debian_base`` does).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from falcoctl_py.errors import UsageError


@dataclass(frozen=True)
class AptSource:
    uri: str
    suites: tuple[str, ...]
    components: tuple[str, ...]
    where: str  # file:line of the entry


def _one_line(path: Path) -> list[AptSource]:
    out: list[AptSource] = []
    for lineno, raw in enumerate(path.read_text(errors="replace").splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line.startswith("deb "):
            continue
        rest = line[4:].strip()
        if rest.startswith("["):  # options: deb [arch=amd64 signed-by=...] URI ...
            rest = rest.split("]", 1)[1] if "]" in rest else ""
        parts = rest.split()
        if len(parts) >= 3:
            out.append(AptSource(parts[0], (parts[1],), tuple(parts[2:]), f"{path}:{lineno}"))
    return out


def _deb822(path: Path) -> list[AptSource]:
    out: list[AptSource] = []
    fields: dict[str, str] = {}
    start = 1
    key = ""

    def flush() -> None:
        types = fields.get("types", "").split()
        if "deb" in types and fields.get("enabled", "yes").lower() != "no":
            for uri in fields.get("uris", "").split():
                out.append(AptSource(uri, tuple(fields.get("suites", "").split()),
                                     tuple(fields.get("components", "").split()), f"{path}:{start}"))

    for lineno, raw in enumerate(path.read_text(errors="replace").splitlines() + [""], 1):
        if not raw.strip():
            if fields:
                flush()
            fields, key, start = {}, "", lineno + 1
            continue
        if raw.startswith("#"):
            continue
        if raw[:1].isspace() and key:  # continuation of a multi-line field
            fields[key] += " " + raw.strip()
            continue
        name, sep, value = raw.partition(":")
        if sep:
            key = name.strip().lower()
            fields[key] = value.strip()
    return out


def read_sources(root: Path = Path("/etc/apt")) -> list[AptSource]:
    """Every ``deb`` source apt would use, in apt's order (sources.list, then sources.list.d by name)."""
    out: list[AptSource] = []
    main = root / "sources.list"
    if main.is_file():
        out += _one_line(main)
    for path in sorted((root / "sources.list.d").glob("*")):
        if path.suffix == ".list" and path.is_file():
            out += _one_line(path)
        elif path.suffix == ".sources" and path.is_file():
            out += _deb822(path)
    return out


def mirror_for(suite: str, root: Path = Path("/etc/apt")) -> str:
    """The archive URI serving ``suite`` ``main``; a usage error naming where we looked when none does."""
    for src in read_sources(root):
        if suite in src.suites and "main" in src.components:
            return src.uri.rstrip("/")
    raise UsageError(f"no apt source serves {suite} main (looked in {root}/sources.list and "
                     f"{root}/sources.list.d): pass --mirror")


def host_suite(os_release: Path = Path("/etc/os-release")) -> str:
    try:
        text = os_release.read_text()
    except OSError:
        text = ""
    for line in text.splitlines():
        if line.startswith("VERSION_CODENAME="):
            value = line.split("=", 1)[1].strip().strip('"')
            if value:
                return value
    raise UsageError(f"{os_release} names no VERSION_CODENAME (not Debian?): pass --suite")
