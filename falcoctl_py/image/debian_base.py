"""The image's Debian base root: ``debootstrap --variant=minbase`` from the host's own archive, cached.

Owns: bootstrapping a base root file system (a suite, an architecture and extra packages: ``python3`` and
``libbpf1`` for the runtime, the eBPF toolchain for the build stage), trimming what an image does not need (apt
caches and lists, man pages, locales, docs except copyright files), and caching it as a tarball keyed by suite, architecture and
package list under ``$FALCOPY_IMAGE_CACHE`` (default ``$XDG_CACHE_HOME/falco-py/image`` or
``~/.cache/falco-py/image``). A cold bootstrap costs ~40 s and ~120 MB; a cached one costs nothing. Next to the
tarball a small JSON file records what it holds (the Python version the wheels must match).

Must not: run buildah or build the image (``falcoctl_py.image.builder`` imports the tarball).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from falcoctl_py.image.tools import BuildError, run_tool

RUNTIME_PACKAGES = ("python3", "libbpf1")  # libbpf: the ebpf backend loads its probe through it
BPF_PACKAGES = ("clang", "llvm", "libbpf-dev", "bpftool")
TRIM = ("var/cache/apt", "var/lib/apt/lists", "usr/share/man", "usr/share/locale", "usr/share/info", "var/log")


@dataclass(frozen=True)
class BaseRoot:
    suite: str
    arch: str
    packages: tuple[str, ...]
    tarball: Path
    python: str | None  # "3.11" when python3 is in it

    @property
    def key(self) -> str:
        return base_key(self.suite, self.arch, self.packages)


def cache_dir() -> Path:
    if os.environ.get("FALCOPY_IMAGE_CACHE"):
        return Path(os.environ["FALCOPY_IMAGE_CACHE"])
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "falco-py" / "image"


def host_arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "armhf", "ppc64le": "ppc64el"}.get(machine, machine)


def base_key(suite: str, arch: str, packages: tuple[str, ...]) -> str:
    return hashlib.sha256(json.dumps([suite, arch, sorted(packages)]).encode()).hexdigest()[:12]


def _trim(root: Path) -> None:
    for rel in TRIM:
        target = root / rel
        if not target.is_dir():
            continue
        for child in target.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            elif child.name not in ("lock", "partial"):
                child.unlink()
    docs = root / "usr/share/doc"
    if docs.is_dir():
        for path in sorted(docs.rglob("*"), reverse=True):
            if path.is_file() or path.is_symlink():
                if path.name != "copyright":
                    path.unlink()
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()


def _python_version(root: Path) -> str | None:
    found = sorted(p.name.removeprefix("python") for p in (root / "usr/lib").glob("python3.*")
                   if (p / "os.py").is_file())
    return found[-1] if found else None


def ensure_base(*, suite: str, mirror: str, packages: tuple[str, ...] = RUNTIME_PACKAGES,
                arch: str | None = None, cache: Path | None = None,
                say: Callable[[str], None] | None = None) -> BaseRoot:
    """The cached base tarball for (suite, arch, packages), bootstrapped from ``mirror`` when missing."""
    arch = arch or host_arch()
    cache = cache or cache_dir()
    key = base_key(suite, arch, packages)
    tarball = cache / f"{suite}-{arch}-{key}.tar"
    meta = tarball.with_suffix(".json")
    if tarball.is_file() and meta.is_file():
        doc = json.loads(meta.read_text())
        return BaseRoot(suite, arch, packages, tarball, doc.get("python"))
    cache.mkdir(parents=True, exist_ok=True)
    if say is not None:
        say(f"base: debootstrap --variant=minbase {suite} ({arch}, {', '.join(packages)}) from {mirror}")
    with tempfile.TemporaryDirectory(prefix="base-", dir=cache) as tmp:
        root = Path(tmp) / "root"
        run_tool(["debootstrap", "--variant=minbase", f"--arch={arch}", f"--include={','.join(packages)}",
                  suite, str(root), mirror], capture=True, timeout=1200)
        _trim(root)
        python = _python_version(root)
        if "python3" in packages and python is None:
            raise BuildError(f"debootstrap of {suite} gave no usr/lib/python3.*: the base cannot run the engine")
        part = tarball.with_suffix(".tar.part")
        run_tool(["tar", "--numeric-owner", "--xattrs", "-C", str(root), "-cf", str(part), "."])
        os.replace(part, tarball)
    meta.write_text(json.dumps({"suite": suite, "arch": arch, "packages": sorted(packages), "mirror": mirror,
                                "python": python}))
    return BaseRoot(suite, arch, packages, tarball, python)
