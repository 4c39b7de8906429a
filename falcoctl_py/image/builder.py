"""Building the engine image without a daemon: buildah runs ``engine/Dockerfile`` on debootstrapped bases.

Owns: the only place that runs ``buildah`` and ``pip wheel``/``pip download`` for the image — the build context
(``dist/image-wheels``: the project's wheel, its dependencies at the versions ``engine/image-constraints.txt``
pins, and pip itself, which the build stage runs offline), importing the cached Debian bases into container
storage (``localhost/falco-py-base:<suite>-<arch>-<key>``), ``buildah build`` with the OCI labels (source,
version, revision) as build arguments, and exporting the result as an OCI image layout (``dist/image`` by
default) that ``falcoctl-py image push`` uploads.

Why buildah with ``--isolation=chroot``: it reads the Dockerfile Docker users build, so there is one recipe, and
it needs no daemon. Its default OCI-runtime isolation fails on hosts with hybrid cgroups (crun: "cgroups in hybrid
mode not supported"); chroot isolation runs RUN steps in new mount/UTS/IPC namespaces with the host network (it
refuses ``--network`` other than host) and needs nothing but root. ``$BUILDAH_ISOLATION`` overrides it.

Must not: push anywhere (``falcoctl_py.image.layout`` does, through ``engine.oci.registry``) or bootstrap Debian
(``falcoctl_py.image.debian_base``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from falcoctl_py.image import debian_base
from falcoctl_py.image.apt_sources import host_suite, mirror_for
from falcoctl_py.image.layout import ImageLayout, read_layout
from falcoctl_py.image.tools import BuildError, need_root, run_tool

BASE_REPO = "localhost/falco-py-base"
IMAGE_REPO = "localhost/falco-py/engine"
DOCKERFILE = "engine/Dockerfile"
WHEELS = "dist/image-wheels"
BPF_SOURCES = "engine/sources/syscall/ebpf"
DEFAULT_SOURCE = "https://github.com/falco-py/falcoctl-py"


@dataclass(frozen=True)
class BuildOptions:
    context: Path
    out: Path
    version: str
    revision: str
    source: str = DEFAULT_SOURCE
    suite: str | None = None
    mirror: str | None = None


def revision_of(context: Path) -> str:
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], check=False, cwd=context, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else "unknown"


def prepare_wheels(context: Path, *, python: str | None = None) -> Path:
    """``dist/image-wheels``: the project wheel and every pinned dependency, for the image's Python (this
    interpreter's version, which must be the base's)."""
    host = f"{sys.version_info.major}.{sys.version_info.minor}"
    if python is not None and python != host:
        raise BuildError(f"the base has Python {python} but this interpreter is {host}: the image's wheels are "
                         f"downloaded for this interpreter; run the build with python{python}")
    wheels = context / WHEELS
    shutil.rmtree(wheels, ignore_errors=True)
    wheels.mkdir(parents=True)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    run_tool([*pip, "wheel", "-q", "--no-deps", "-w", str(wheels), str(context)], capture=True, timeout=600)
    [wheel] = wheels.glob("falcoctl_py-*.whl")
    run_tool([*pip, "download", "-q", "--only-binary=:all:", "-d", str(wheels),
              "-c", str(context / "engine" / "image-constraints.txt"), str(wheel), "pip"], capture=True, timeout=600)
    return wheels


def _image_exists(ref: str) -> bool:
    return subprocess.run(["buildah", "inspect", "--type", "image", ref], check=False,
                          capture_output=True).returncode == 0


def import_base(base: debian_base.BaseRoot) -> str:
    """The base's reference in container storage, imported from its tarball when storage lacks it."""
    ref = f"{BASE_REPO}:{base.suite}-{base.arch}-{base.key}"
    if _image_exists(ref):
        return ref
    ctr = run_tool(["buildah", "from", "--pull=never", "scratch"], capture=True).strip()
    try:
        run_tool(["buildah", "add", "--quiet", ctr, str(base.tarball), "/"], capture=True)
        run_tool(["buildah", "config", "--cmd", "/bin/sh", "--os", "linux", "--arch", base.arch, ctr], capture=True)
        run_tool(["buildah", "commit", "--quiet", "--rm", ctr, ref], capture=True)
    except BuildError:
        subprocess.run(["buildah", "rm", ctr], check=False, capture_output=True)
        raise
    return ref


def build_args(opts: BuildOptions, *, base: str, bpf_base: str) -> dict[str, str]:
    """The ``--build-arg`` values: engine/Dockerfile declares each (tests/engine/test_dockerfile.py checks)."""
    return {"BASE_IMAGE": base, "BPF_BASE_IMAGE": bpf_base, "VERSION": opts.version, "REVISION": opts.revision,
            "SOURCE": opts.source}


def build(opts: BuildOptions, *, say: Callable[[str], None]) -> ImageLayout:
    need_root("building the engine image")
    dockerfile = opts.context / DOCKERFILE
    if not dockerfile.is_file():
        raise BuildError(f"{dockerfile}: not found (is {opts.context} the source tree?)")
    suite = opts.suite or host_suite()
    mirror = opts.mirror or mirror_for(suite)
    base = debian_base.ensure_base(suite=suite, mirror=mirror, say=say)
    say(f"base: {base.tarball} (Python {base.python})")
    runtime_ref = import_base(base)
    bpf_ref = runtime_ref
    if any((opts.context / BPF_SOURCES).glob("*.bpf.c")):
        bpf = debian_base.ensure_base(suite=suite, mirror=mirror, packages=debian_base.BPF_PACKAGES, say=say)
        bpf_ref = import_base(bpf)
    else:
        say(f"no eBPF sources in {BPF_SOURCES}: the image carries no eBPF object")
    prepare_wheels(opts.context, python=base.python or "")
    tag = f"{IMAGE_REPO}:{opts.version}"
    isolation = os.environ.get("BUILDAH_ISOLATION", "chroot")
    argv = ["buildah", "build", "--layers", "--pull=never", f"--isolation={isolation}", "-f", str(dockerfile)]
    for key, value in build_args(opts, base=runtime_ref, bpf_base=bpf_ref).items():
        argv += ["--build-arg", f"{key}={value}"]
    run_tool([*argv, "-t", tag, str(opts.context)], cwd=opts.context)
    shutil.rmtree(opts.out, ignore_errors=True)
    opts.out.parent.mkdir(parents=True, exist_ok=True)
    run_tool(["buildah", "push", "--quiet", "--format", "oci", tag, f"oci:{opts.out}:{opts.version}"], capture=True)
    return read_layout(opts.out, tag=opts.version)
