"""Live capture cost of the ebpf backend: an open+exec storm with stable + incubating rules, and binary replay.

Phases (one run; needs root, kernel BTF and the probe built by ``make setup``, else it says so and exits 0):
  1. capture-free storm: a driver process runs two exec spawners (``cat`` of two files) flat out and an open
     loop (``openat`` + ``close`` of a file) at ``--open-rate`` (50,000/s) for a few seconds -> F operations/s.
  2. capture: the ebpf backend with falco_rules.yaml + falco-incubating_rules.yaml; the same storm runs
     for ``--seconds`` (20) while this process decodes every ring batch and runs it through the engine
     (``Engine.process_batch``: rules and alerts), as ``engine run --source syscall`` does. Reports captured
     events/s, loss (ring drops counted in the kernel + ours), engine CPU per event (this process, all threads),
     and the storm's rate under capture as a fraction of F measured in the same run.
  3. replay: a shorter storm is captured to the binary capture format, then replayed through falco_rules.yaml on
     one core (decode + evaluate) -> events/s.
  4. memory, in a fresh process: RSS of the engine (both rules files, probe loaded, ring mapped) with a
     5,000-process table built by the decoder from exec records of this host's processes (``--memory``).
The audit backend's figures come from bench_syscall.py in the same ``make bench`` run.
Usage: python tests/bench/bench_syscall_ebpf.py [--seconds 20] [--open-rate 50000] [--memory]
"""

from __future__ import annotations

import argparse
import mmap
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
from bench_syscall import cpu_seconds, replay_through, rss_mb

if TYPE_CHECKING:
    from engine.events.syscall import ProcessInfo

SHARED_RULES = Path(os.environ.get("FALCOPY_SHARED") or REPO.parent / "shared") / "upstream" / "rules"

DRIVER = """
import os, sys, time, threading
seconds, cat, target, rate = float(sys.argv[1]), sys.argv[2], sys.argv[3], float(sys.argv[4])
argv, env = ["cat", "/etc/hostname", "/etc/os-release"], {"PATH": "/usr/bin:/bin", "LC_ALL": "C"}
devnull = os.open(os.devnull, os.O_WRONLY)
acts = [(os.POSIX_SPAWN_DUP2, devnull, 1)]
execs, opens = [0, 0], [0]
end = time.monotonic() + seconds
def spawner(slot):
    while time.monotonic() < end:
        os.waitpid(os.posix_spawn(cat, argv, env, file_actions=acts), 0)
        execs[slot] += 1
def opener():  # 200 opens at a time, paced to ``rate`` opens/s (0: flat out)
    n, due = 0, time.monotonic()
    while time.monotonic() < end:
        for _ in range(200):
            os.close(os.open(target, os.O_RDONLY))
        n += 200
        if rate:
            due += 200 / rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    opens[0] = n
threads = [threading.Thread(target=spawner, args=(i,)) for i in range(2)] + [threading.Thread(target=opener)]
start = time.monotonic()
for t in threads: t.start()
for t in threads: t.join()
print(sum(execs), opens[0], time.monotonic() - start)
"""


def drive(seconds: float, target: Path, open_rate: float) -> tuple[int, int, float]:
    """(execs, opens, wall seconds) of one storm in a separate process: execs flat out, opens at ``open_rate``."""
    cat = shutil.which("cat") or "/bin/cat"
    out = subprocess.run([sys.executable, "-c", DRIVER, str(seconds), cat, str(target), str(open_rate)],
                         capture_output=True,
                         text=True, check=True).stdout.split()
    return int(out[0]), int(out[1]), float(out[2])


def exec_record(info: ProcessInfo, pid: int) -> bytes:
    """The probe's exec record for a process like ``info`` (read from ``/proc``) under ``pid``."""
    from engine.sources.syscall.ebpf import decode as d

    def item(kind: int, data: bytes) -> bytes:
        return d.ITEM.pack(kind, 0, len(data)) + data

    def components(path: str) -> bytes:
        return b"".join(bytes([len(p)]) + p for p in reversed([p.encode() for p in path.split("/") if p]))

    head = d.HDR.pack(d.K_EXEC, 0, 0, 0, 1_000, pid, pid, 0)
    body = d.EXEC.pack(info.ppid, pid, pid, info.sid, info.pgid, info.pgid, info.uid or 0, info.gid or 0,
                       info.euid or 0, info.egid or 0, 0xFFFFFFFF, info.tty, pid, 0, info.cap_effective,
                       info.cap_permitted, info.cap_inheritable, 1_000, 42, 0, info.name.encode()[:15])
    argv = b"".join(a.encode(errors="surrogateescape") + b"\0" for a in [info.exe, *info.args])[:4096]
    env = b"".join(e.encode(errors="surrogateescape") + b"\0" for e in info.env)[:8192]
    return head + body + item(d.I_EXE, components(info.exepath)) + item(d.I_ARGV, argv) + item(d.I_ENV, env) + (
        item(d.I_CWD, components(info.cwd)))


def memory(processes: int) -> int:
    """Phase 4, in a process of its own: the engine's RSS with both rules files loaded, the probe loaded and its
    whole ring mapped and touched, and a table of ``processes`` processes made by the decoder from exec records
    of this host's processes (argv, environment, exe and cwd as ``/proc`` shows them; each copy under a pid of
    its own), as the live engine holds them on a node running that many."""
    from engine.rules import load_rules
    from engine.sources.syscall.ebpf import decode as d
    from engine.sources.syscall.ebpf.backend import EbpfBackend
    from engine.state.proctable import ProcessTable, read_process
    ruleset = load_rules([SHARED_RULES / "falco_rules.yaml", SHARED_RULES / "falco-incubating_rules.yaml"]).ruleset
    assert ruleset is not None
    real = [p for p in (read_process(int(e)) for e in os.listdir("/proc") if e.isdigit()) if p is not None]
    table = ProcessTable(max_size=2 * processes, reader=lambda pid: None)
    backend = EbpfBackend(ruleset.evttypes_needed("syscall"), table=table, scan=False)
    backend.open()
    try:
        ring = backend._ring
        assert ring is not None
        mapped = ring._producer  # what a running engine has read once round the ring
        sum(mapped[i] for i in range(0, len(mapped), mmap.PAGESIZE))
        records = [exec_record(real[i % len(real)], 2_000_000 + i) for i in range(processes)]
        before = rss_mb()
        decoder = d.Decoder(table, boot_ns=0, live=False)
        for rec in records:
            decoder.decode(rec)
        del records
        after = rss_mb()
    finally:
        backend.close()
    print(f"engine RSS with a {len(table)}-process table (both rules files, probe loaded, its "
          f"{backend.ring_bytes >> 20} MiB ring mapped and read): {after:.1f} MB (the table: "
          f"+{after - before:.1f} MB, ~{(after - before) * 1024 * 1024 / processes:.0f} bytes per process)")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--open-rate", type=float, default=50_000.0, help="opens/s in the storm (execs run flat out)")
    ap.add_argument("--memory", action="store_true", help="only phase 4 (memory); run in a process of its own")
    args = ap.parse_args()
    if args.memory:
        return memory(5000)
    from engine.sources.syscall.ebpf.backend import EbpfBackend, missing
    reason = "needs root" if os.geteuid() != 0 else missing()
    if reason is not None:
        print(f"bench_syscall_ebpf: {reason}; nothing measured")
        return 0
    from engine.rules import load_rules
    from engine.runtime import Engine

    workdir = Path(tempfile.mkdtemp(prefix="bench-ebpf-"))
    target = workdir / "opened"
    target.write_text("x")
    execs, opens, wall = drive(4.0, target, args.open_rate)
    free = (execs + opens) / wall
    print(f"capture-free storm: {free:.0f} ops/s ({execs / wall:.0f} execs/s + {opens / wall:.0f} opens/s)")

    both = load_rules([SHARED_RULES / "falco_rules.yaml", SHARED_RULES / "falco-incubating_rules.yaml"])
    assert both.ruleset is not None, [f.to_dict() for f in both.errors][:3]
    ruleset = both.ruleset

    def capture(seconds: float, *, record: Path | None) -> dict[str, float]:
        backend = EbpfBackend(ruleset.evttypes_needed("syscall"), record=record)
        engine = Engine(ruleset)
        counts = {"events": 0, "alerts": 0}

        def consume() -> None:
            for batch in backend.batches():
                counts["events"] += len(batch)
                if record is None:
                    counts["alerts"] += len(engine.process_batch(batch))

        backend.open()
        consumer = threading.Thread(target=consume, daemon=True)
        try:
            consumer.start()
            time.sleep(0.5)
            cpu0, t0, ev0 = cpu_seconds(), time.monotonic(), counts["events"]
            execs, opens, storm_wall = drive(seconds, target, args.open_rate)
            time.sleep(1.0)  # let the ring drain
            cpu1, t1, ev1 = cpu_seconds(), time.monotonic(), counts["events"]
            stats = backend.stats()
            syscalls = sum(1 for spec in backend.specs.values() if spec[6] & 1)
        finally:
            backend.stop()
            consumer.join(5)
            backend.close()
        return {"events": ev1 - ev0, "wall": t1 - t0, "storm_wall": storm_wall, "cpu": cpu1 - cpu0,
                "ops": execs + opens, "execs": execs, "kernel_lost": stats.kernel_lost,
                "drops": stats.dropped - stats.kernel_lost, "retried": float(stats.detail.get("ring_retries", 0)),
                "alerts": counts["alerts"], "syscalls": syscalls}

    got = capture(args.seconds, record=None)
    rate = got["events"] / got["storm_wall"]
    under = got["ops"] / got["storm_wall"]
    print(f"capture for {got['storm_wall']:.0f}s (stable+incubating rules, {got['syscalls']:.0f} syscalls in the "
          f"kernel filter): {got['events']:.0f} events, {rate:.0f} events/s captured, {got['alerts']:.0f} alerts")
    print(f"loss: {got['kernel_lost']:.0f} records dropped in the kernel, {got['drops']:.0f} by us "
          f"({got['retried']:.0f} retries of records the ring refused at first)")
    print(f"engine CPU: {got['cpu'] / max(got['events'], 1) * 1e6:.1f} us per event "
          f"({got['cpu'] / got['wall'] * 100:.0f}% of one core)")
    print(f"storm under capture: {under:.0f} ops/s = {under / free:.2f} of the capture-free rate")

    capture_file = workdir / "capture.bin"
    recorded = capture(min(args.seconds, 3.0), record=capture_file)
    stable = load_rules([SHARED_RULES / "falco_rules.yaml"]).ruleset
    assert stable is not None
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    n, decode_s, eval_s, matched = replay_through(capture_file, stable)
    print(f"replay of a {capture_file.stat().st_size >> 20} MiB binary capture ({n} events, "
          f"{recorded['kernel_lost']:.0f} lost while recording) through falco_rules.yaml on one core: "
          f"{n / (decode_s + eval_s):.0f} events/s (decode {n / decode_s:.0f}/s, evaluate {n / eval_s:.0f}/s), "
          f"{matched} alerts")
    subprocess.run([sys.executable, __file__, "--memory"], check=True)
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
