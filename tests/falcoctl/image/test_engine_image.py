"""The engine image, really: built by ``image build`` (buildah on a debootstrapped base), pushed by ``image push``
to a real registry (Debian's docker-registry), pulled back by another client (skopeo), unpacked (umoci), and its
entrypoint run in a chroot as the image's user to replay a Kubernetes audit file and a syscall capture that the
engine recorded live on this host (``sources.syscall.record``; the ebpf backend where the kernel allows it, else
audit) while an untrusted program read /etc/shadow, a program ran from /dev/shm and ordinary commands ran: the
actions' rules fire, the ordinary commands raise nothing, and the alerts are the ones the live engine and the
source tree's engine give for the same input. Also: the image holds no compiler and no pip, carries its OCI
labels and runs as non-root, and its own probe captures live syscalls.

Needs root, buildah, debootstrap, skopeo, umoci (``make test`` installs them); the Debian base is cached
(``$FALCOPY_IMAGE_CACHE``), so only the first run on a machine pays for debootstrap. The live parts hold the
kernel lock (``kernel_support``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from cli_support import cli_popen, cli_process, run, wait_or_kill
from http_support import free_port
from kernel_support import kernel_lock
from registry_support import RunningRegistry, registry  # noqa: F401

import engine
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
    done = cli_process("image", "build", "--context", str(REPO), "--out", str(out), "-o", "json", timeout=1500)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["tag"] == engine.__version__ and summary["user"] == "65532:65532"
    print(f"\nengine image: {summary['compressed_bytes'] / 1e6:.1f} MB compressed, {summary['layers']} layers")
    yield out


@dataclass
class Recording:
    """A capture the engine recorded live on this host while the actions below ran, and what it raised live."""

    path: Path
    backend: str
    live: list[dict[str, Any]]
    shadow: str  # the cmdline of the untrusted read of /etc/shadow
    dropper: str  # the exepath of the program run from /dev/shm
    ordinary: tuple[str, ...]  # cmdlines of commands no bundled rule is about


def _record(work: Path) -> Recording:
    """``engine run`` with ``sources.syscall.record`` (ebpf where the kernel allows it, else audit) while an
    untrusted program reads /etc/shadow, a program runs from /dev/shm and ordinary commands run; stopped with
    SIGTERM once the last action's alert is out, so every action is in the capture."""
    from engine.sources.syscall.ebpf.backend import missing

    backend = "ebpf" if missing() is None else "audit"
    capture = work / ("capture.bin" if backend == "ebpf" else "capture.jsonl")
    config = work / "engine.yaml"
    config.write_text(yaml.safe_dump({
        "rules": [str(REPO / "engine" / "default_rules")], "metrics": {"listen": f"127.0.0.1:{free_port()}"},
        "outputs": {"stdout": {"format": "json"}},
        "sources": {"syscall": {"backend": backend, "record": str(capture), "k8s_metadata": {"enabled": False}}}}))
    notes = work / "notes.txt"
    notes.write_text("nothing to see\n")
    dropper = Path(f"/dev/shm/falcopy-image-dropper-{os.getpid()}")
    ordinary = (["ls", "-l", str(work)], ["cat", str(notes)], ["id", "-u"])
    shadow = ["cat", "/etc/shadow"]
    lines: list[str] = []
    log = work / "engine.log"

    def alerts() -> list[dict[str, Any]]:
        return [json.loads(x) for x in list(lines) if x.startswith("{")]

    def wait_for(field: str, value: str, seconds: float, engine: subprocess.Popen[str],
                 again: list[str] | None = None) -> None:
        """Until the engine has raised an alert with ``field`` = ``value``, running ``again`` meanwhile."""
        deadline = time.monotonic() + seconds
        while not any(a["output_fields"].get(field) == value for a in alerts()):
            assert engine.poll() is None, f"the engine exited {engine.returncode}: {log.read_text()[-2000:]}"
            assert time.monotonic() < deadline, f"no alert with {field}={value} in {seconds} s"
            if again:
                subprocess.run(again, check=True, capture_output=True, timeout=10)
            time.sleep(0.2)

    with kernel_lock(), log.open("w") as err:
        engine = cli_popen("engine", "run", "--config", str(config), stderr=err)
        reader = threading.Thread(target=lambda: lines.extend(iter(engine.stdout.readline, "")),  # type: ignore[union-attr]
                                  daemon=True)
        reader.start()
        try:
            wait_for("proc.cmdline", " ".join(shadow), 40, engine, again=shadow)  # until the capture is live
            for argv in ordinary:
                subprocess.run(argv, check=True, capture_output=True, timeout=10)
            shutil.copy2("/bin/true", dropper)
            subprocess.run([str(dropper)], check=True, timeout=10)
            wait_for("proc.exepath", str(dropper), 20, engine)  # the last action is out: all are in the capture
        finally:
            dropper.unlink(missing_ok=True)
            if engine.poll() is None:
                engine.send_signal(signal.SIGTERM)
            wait_or_kill(engine, 30)
            reader.join(5)
            if engine.stdout is not None:
                engine.stdout.close()
    assert engine.returncode == 0, log.read_text()[-2000:]
    capture.chmod(0o644)
    print(f"\nrecorded {capture.stat().st_size} bytes with the {backend} backend")
    return Recording(capture, backend, alerts(), " ".join(shadow), str(dropper),
                     tuple(" ".join(a) for a in ordinary))


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Recording:
    if os.geteuid() != 0:
        pytest.skip("recording syscalls needs root")
    return _record(tmp_path_factory.mktemp("record"))


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


def test_built_image_pushed_pulled_back_replays_a_kernel_recording_and_an_audit_file(
    built: Path, recording: Recording, registry: RunningRegistry, tmp_path: Path, conformance: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
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

    capture, audit = rootfs / "tmp" / recording.path.name, rootfs / "tmp" / "audit.jsonl"
    shutil.copyfile(recording.path, capture)
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
            _check_replayed_recording(in_image, recording)
        else:
            assert rules == {"FPY Privileged Pod Created", "FPY Pod Mounts Sensitive Host Path",
                             "FPY Anonymous Request Allowed"}


def _check_replayed_recording(replayed: list[tuple[str, str, str, dict[str, object]]], recording: Recording) -> None:
    """The actions' rules fire on the replay, with the fields the live run gave; the ordinary commands raise
    nothing; and the replay raises what the live engine raised (the capture holds everything it saw)."""
    shadow = [a for a in replayed if a[3].get("proc.cmdline") == recording.shadow]
    assert shadow and {a[0] for a in shadow} == {"FPY Shadow File Read By Unexpected Program"}
    assert {a[3].get("proc.name") for a in shadow} == {"cat"}
    dropped = [a for a in replayed if a[3].get("proc.exepath") == recording.dropper]
    assert [a[0] for a in dropped] == ["FPY Program Run From Temporary Directory"]
    assert not [a for a in replayed if a[3].get("proc.cmdline") in recording.ordinary]
    def key(alert: tuple[str, str, str, dict[str, object]]) -> tuple[str, str, str]:
        return alert[2], alert[0], json.dumps(alert[3], sort_keys=True)

    live = _alerts("\n".join(json.dumps(a) for a in recording.live))
    assert sorted(replayed, key=key) == sorted(live, key=key)


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
    with kernel_lock():
        done = subprocess.run(["unshare", "--mount", "--fork", "sh", "-c", script, "sh", *argv], check=False,
                              capture_output=True, text=True, timeout=60, env={**os.environ, "R": str(rootfs)})
    assert done.returncode in (0, 124), done.stderr[-2000:]
    alerts = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert any(a["rule"] == "FPY Shadow File Read By Unexpected Program" and a["output_fields"]["proc.name"] == "cat"
               for a in alerts), done.stderr[-2000:]
