"""The engine image, really: built by ``image build`` (buildah on a debootstrapped base), pushed by ``image push``
to a real registry (Debian's docker-registry), pulled back by another client (skopeo), unpacked (umoci), and its
entrypoint run in a chroot as the image's user to replay a syscall capture and a Kubernetes audit file through
the bundled rules: the alerts are the ones the source tree's engine gives for the same input. Also: the image
holds no compiler and no pip, carries its OCI labels and runs as non-root.

Needs root, buildah, debootstrap, skopeo, umoci (``make test`` installs them); the Debian base is cached
(``$FALCOPY_IMAGE_CACHE``), so only the first run on a machine pays for debootstrap.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from cli_support import run
from registry_support import RunningRegistry, registry  # noqa: F401
from syscall_events import literals, synth_event

import engine
from engine.events.syscall import ContainerInfo, FdInfo, ProcessInfo, SyscallEvent
from engine.oci.registry import Reference, Registry

REPO = Path(__file__).resolve().parents[3]
TOOLS = ("buildah", "debootstrap", "skopeo", "umoci", "chroot")
COMPILERS = ("cc", "gcc", "c++", "g++", "clang", "cpp", "tcc", "ld", "as", "rustc", "go", "pip", "pip3")


def _require_tools() -> None:
    if os.geteuid() != 0:
        pytest.skip("building the image needs root")
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        pytest.skip(f"missing {', '.join(missing)} (make test-debs installs them)")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    _require_tools()
    out = tmp_path_factory.mktemp("image") / "layout"
    done = subprocess.run([sys.executable, "-m", "falcoctl_py.cli.main", "image", "build", "--context", str(REPO),
                           "--out", str(out), "-o", "json"], check=False, capture_output=True, text=True,
                          timeout=1500)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["tag"] == engine.__version__ and summary["user"] == "65532:65532"
    print(f"\nengine image: {summary['compressed_bytes'] / 1e6:.1f} MB compressed, {summary['layers']} layers")
    yield out


def _capture(path: Path) -> None:
    """Events the bundled rules care about, then seeded events of the same types (a recording's v1 lines)."""
    shim = ProcessInfo(pid=40, ppid=1, name="containerd-shim", exepath="/usr/bin/containerd-shim")
    pod = ContainerInfo(id="0123456789ab", image="nginx", image_repository="nginx", name="web",
                        pod_name="web-0", pod_namespace="shop")
    bash = ProcessInfo(pid=41, ppid=40, name="bash", exe="bash", exepath="/bin/bash", args=["-i"],
                       cmdline="bash -i", parent=shim, container_id="0123456789ab")
    cat = ProcessInfo(pid=42, ppid=1, name="cat", exe="cat", exepath="/usr/bin/cat", args=["/etc/shadow"],
                      cmdline="cat /etc/shadow")
    dropper = ProcessInfo(pid=43, ppid=1, name="x", exe="/tmp/x", exepath="/tmp/x", cmdline="/tmp/x")
    base = 1_700_000_000_000_000_000
    events = [
        SyscallEvent(type="execve", ts=base + 1, num=1, tid=41, pid=41, res=0, args={"filename": "/bin/bash"},
                     proc=bash, container=pod),
        SyscallEvent(type="openat", ts=base + 2, num=2, tid=42, pid=42, res=3,
                     args={"fd": 3, "dirfd": -100, "name": "/etc/shadow", "flags": 0, "mode": 0}, proc=cat,
                     fd=FdInfo(num=3, type="file", name="/etc/shadow", directory="/etc", filename="shadow",
                               open_flags=0)),
        SyscallEvent(type="execve", ts=base + 3, num=3, tid=43, pid=43, res=0, args={"filename": "/tmp/x"},
                     proc=dropper),
    ]
    from engine.rules import load_rules

    loaded = load_rules([REPO / "engine" / "default_rules" / "falco_py_rules.yaml"]).ruleset
    assert loaded is not None
    lits = literals(r.ast for r in loaded.rules)
    rng = random.Random(16)
    for num in range(4, 400):
        events.append(synth_event(rng, lits, rng.choice(["execve", "openat", "open"]), num))
    path.write_bytes(b"".join(e.to_json() + b"\n" for e in events))


def _audit_file(path: Path, conformance: Path) -> None:
    names = ("create_nginx_pod_privileged.json", "attach_pod.json", "create_nginx_pod_sensitive_mount.json",
             "anonymous_creates_namespace_foo.json", "create_deployment.json")
    lines = []
    for name in names:
        doc = orjson.loads((conformance / "k8saudit" / "events" / name).read_bytes())
        for item in doc.get("items", [doc]) if isinstance(doc, dict) else doc:
            lines.append(orjson.dumps(item))
    path.write_bytes(b"\n".join(lines) + b"\n")


def _alerts(text: str) -> list[tuple[str, str, str, dict[str, object]]]:
    """Rule, priority, time and fields of each alert; user names are left out: uid 1000 resolves against each
    root's own /etc/passwd (the host's has a user there, the image's none), which is the engine being right."""
    out = []
    for line in text.splitlines():
        doc = json.loads(line)
        fields = {k: v for k, v in doc["output_fields"].items() if not k.startswith("user.")}
        out.append((doc["rule"], doc["priority"], doc["time"], fields))
    return out


def test_built_image_pushed_pulled_back_runs_the_engine_with_the_expected_alerts(
    built: Path, registry: RunningRegistry, tmp_path: Path, conformance: Path, capsys: pytest.CaptureFixture[str],  # noqa: F811
) -> None:
    code, out, err = run(capsys, "image", "push", "--registry", f"{registry.host}/falcopy", "--layout", str(built))
    assert code == 0, err
    pushed = out.strip()
    ref = Reference.parse(pushed)
    assert ref.repository == "falcopy/engine" and ref.tag == engine.__version__
    assert Registry(registry.host).resolve(Reference.parse(f"{registry.host}/falcopy/engine:{ref.tag}")) == ref.digest
    assert f"install --image {registry.host}/falcopy/engine:{ref.tag}" in err

    pulled = tmp_path / "pulled"
    by_digest = f"{registry.host}/{ref.repository}@{ref.digest}"  # skopeo takes a tag or a digest, not both
    copied = subprocess.run(["skopeo", "copy", "--quiet", "--src-tls-verify=false", f"docker://{by_digest}",
                             f"oci:{pulled}:{ref.tag}"], check=False, capture_output=True, text=True, timeout=300)
    assert copied.returncode == 0, copied.stderr
    config = json.loads(subprocess.run(["skopeo", "inspect", "--config", f"oci:{pulled}:{ref.tag}"], check=True,
                                       capture_output=True, timeout=60).stdout)["config"]
    labels = config["Labels"]
    assert labels["org.opencontainers.image.version"] == engine.__version__
    assert labels["org.opencontainers.image.source"].startswith("https://")
    assert len(labels["org.opencontainers.image.revision"]) == 40
    assert config["User"] == "65532:65532"

    bundle = tmp_path / "bundle"
    subprocess.run(["umoci", "unpack", "--image", f"{pulled}:{ref.tag}", str(bundle)], check=True,
                   capture_output=True, timeout=300)
    rootfs = bundle / "rootfs"
    found = [f"{d}/{name}" for d in ("usr/bin", "usr/local/bin", "bin", "opt/falco-py/bin") for name in COMPILERS
             if (rootfs / d / name).exists()]
    assert found == [], f"the image carries build tools: {found}"
    assert not list((rootfs / "usr/lib").glob("gcc*")) and not list((rootfs / "usr/lib").glob("llvm*"))

    assert list((rootfs / "usr/lib").glob("*/libbpf.so.1")), "the ebpf backend's libbpf is missing"
    probe_sources = sorted((REPO / "engine/sources/syscall/ebpf").glob("*.bpf.c"))
    for src in probe_sources:  # compiled in the bpf stage, shipped without the toolchain
        obj = (rootfs / "opt/falco-py/lib/bpf" / src.name).with_suffix(".o")
        head = obj.read_bytes()[:20]
        assert head[:4] == b"\x7fELF" and int.from_bytes(head[18:20], "little") == 247, f"{obj}: not a BPF object"
    if probe_sources:
        assert "FALCOPY_BPF_OBJECT=/opt/falco-py/lib/bpf/probe.bpf.o" in config["Env"]

    capture, audit = rootfs / "tmp" / "capture.jsonl", rootfs / "tmp" / "audit.jsonl"
    _capture(capture)
    _audit_file(audit, conformance)
    env = ["env", "-i", *(e for e in config["Env"])]
    user = config["User"]
    for source, events in (("syscall", capture), ("k8s_audit", audit)):
        argv = [*config["Entrypoint"], "--source", source, "--events", f"/tmp/{events.name}", "-o", "json"]
        done = subprocess.run(["chroot", f"--userspec={user}", str(rootfs), *env, *argv], check=False,
                              capture_output=True, text=True, timeout=120, cwd="/")
        assert done.returncode == 0, done.stderr[-2000:]
        in_image = _alerts(done.stdout)
        code, host_out, err = run(capsys, "engine", "run", "--source", source, "--events", str(events), "-o", "json")
        assert code == 0, err
        assert in_image == _alerts(host_out) and in_image
        rules = {a[0] for a in in_image}
        if source == "syscall":
            assert {"FPY Shell Spawned In Container", "FPY Shadow File Read By Unexpected Program",
                    "FPY Program Run From Temporary Directory"} <= rules
        else:
            assert rules == {"FPY Privileged Pod Created", "FPY Pod Mounts Sensitive Host Path",
                             "FPY Anonymous Request Allowed"}


def test_image_captures_live_syscalls_with_its_own_ebpf_probe(built: Path, tmp_path: Path) -> None:
    """The shipped probe loads: the image's entrypoint with the ebpf backend (as the chart's syscall pods run it,
    uid 0, with /proc and /sys of the node) alerts on a real ``cat /etc/shadow``. Mounts live in a private mount
    namespace that ends with the run; the engine unloads its programs on SIGINT."""
    if not list((REPO / "engine/sources/syscall/ebpf").glob("*.bpf.c")) or not Path("/sys/kernel/btf/vmlinux").exists():
        pytest.skip("no eBPF probe sources or no kernel BTF")
    bundle = tmp_path / "bundle"
    subprocess.run(["umoci", "unpack", "--image", f"{built}:{engine.__version__}", str(bundle)], check=True,
                   capture_output=True, timeout=300)
    rootfs = bundle / "rootfs"
    config = json.loads((bundle / "config.json").read_text())["process"]
    script = (
        "mount --make-rprivate / && mount -t proc proc \"$R/proc\" && mount --rbind /sys \"$R/sys\" && "
        "(sleep 3; cat /etc/shadow >/dev/null) & "
        "exec timeout -s INT 8 chroot \"$R\" env -i \"$@\""
    )
    argv = [*config["env"], *config["args"][:3], "--source", "syscall", "--backend", "ebpf", "-o", "json",
            "--metrics-listen", "127.0.0.1:18766"]
    done = subprocess.run(["unshare", "--mount", "--fork", "sh", "-c", script, "sh", *argv], check=False,
                          capture_output=True, text=True, timeout=60, env={**os.environ, "R": str(rootfs)})
    assert done.returncode in (0, 124), done.stderr[-2000:]
    alerts = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert any(a["rule"] == "FPY Shadow File Read By Unexpected Program" and a["output_fields"]["proc.name"] == "cat"
               for a in alerts), done.stderr[-2000:]
