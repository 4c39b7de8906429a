"""Live syscall capture cost: loss and engine CPU under an exec storm, replay speed, process-table memory.

Phases (one run; needs root and the audit subsystem, else it says so and exits 0 with nothing measured):
  1. capture-free exec rate: a separate driver process spawns ``cat`` (each exec opens two files) as fast as it
     can for a few seconds -> R execs/s.
  2. capture: the audit backend with falco_rules.yaml + falco-incubating_rules.yaml loaded; the driver runs at
     R/2 for ``--seconds`` (20 by default) while this process decodes every event and runs it through the
     engine (rules and alerts), as ``engine run --source syscall`` does. Reports events/s, events lost (kernel
     ``lost`` delta + our drops), and engine CPU (this process, all threads) per 1,000 events/s. A second,
     shorter storm is recorded (``engine.sources.syscall.record.recorder``) for phase 3.
  3. replay: the recorded events through falco_rules.yaml on one core (decode + evaluate, and evaluate
     alone) -> events/s.
  4. memory: RSS growth of a 5,000-entry process table built from real /proc entries.
Usage: python tests/bench/bench_syscall.py [--seconds 20]
"""

from __future__ import annotations

import argparse
import copy
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.rules.ruleset import Ruleset

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
SHARED_RULES = Path(os.environ.get("FALCOPY_SHARED") or REPO.parent / "shared") / "upstream" / "rules"

DRIVER = """
import os, sys, time, threading
rate, seconds, cat = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
argv = ["cat", "/etc/hostname", "/etc/os-release"]
# An absolute path and a minimal environment: no PATH search (one failed execve per PATH entry before the right
# one) and no locale files, so every exec is the same small unit on every machine: execve, the loader's two opens,
# cat's two opens, exit.
env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C"}
devnull = os.open(os.devnull, os.O_WRONLY)
acts = [(os.POSIX_SPAWN_DUP2, devnull, 1)]
count = [0, 0, 0, 0]
def worker(slot, per_thread_rate):
    end = time.monotonic() + seconds
    step = 1.0 / per_thread_rate if per_thread_rate > 0 else 0.0
    due = time.monotonic()
    while time.monotonic() < end:
        pid = os.posix_spawn(cat, argv, env, file_actions=acts)
        os.waitpid(pid, 0)
        count[slot] += 1
        if step:
            due += step
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
# Four spawners: under capture an exec takes longer, and two serial spawners would measure that latency instead
# of holding the rate (capture-free, two and four spawners reach the same rate: the cores are the limit).
threads = [threading.Thread(target=worker, args=(i, rate / 4)) for i in range(4)]
start = time.monotonic()
for t in threads: t.start()
for t in threads: t.join()
print(sum(count), time.monotonic() - start)
"""


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def drive(rate: float, seconds: float) -> tuple[int, float]:
    cat = shutil.which("cat") or "/bin/cat"
    out = subprocess.run([sys.executable, "-c", DRIVER, str(rate), str(seconds), cat], capture_output=True,
                         text=True, check=True).stdout.split()
    return int(out[0]), float(out[1])


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def replay_through(capture: Path, ruleset: Ruleset) -> tuple[int, float, float, int]:
    """Events in ``capture``, seconds to decode them all, seconds to evaluate them through ``ruleset``, alerts."""
    from engine.sources.replay import ReplaySource
    start = time.perf_counter()
    events = list(ReplaySource(capture, name="syscall"))
    decode_s = time.perf_counter() - start
    start = time.perf_counter()
    matched = sum(len(ruleset.evaluate(e)) for e in events)
    return len(events), decode_s, time.perf_counter() - start, matched


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=20.0)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench_syscall: needs root for the audit backend; nothing measured")
        return 0
    from engine.rules import load_rules
    from engine.runtime import Engine
    from engine.sources.syscall import SyscallSourceUnavailable, check_audit
    from engine.sources.syscall.linux_audit.backend import AuditBackend
    from engine.sources.syscall.record.recorder import Recorder

    try:
        check_audit()
    except SyscallSourceUnavailable as exc:
        print(f"bench_syscall: {exc}; nothing measured")
        return 0

    # 4. (measured first, before captured events fill the heap) process table memory
    from engine.state.proctable import ProcessTable, read_process
    real = [p for p in (read_process(int(d)) for d in os.listdir("/proc") if d.isdigit()) if p is not None]
    base = rss_mb()
    table = ProcessTable(max_size=10_000)
    for i in range(5000):
        entry = copy.copy(real[i % len(real)])  # then fresh strings: deepcopy would share them
        for name in ("name", "exe", "exepath", "cmdline", "cwd"):
            setattr(entry, name, getattr(entry, name).encode().decode())
        entry.args = [a.encode().decode() for a in entry.args]
        entry.env = [e.encode().decode() for e in entry.env]
        entry.pid = entry.tid = 1_000_000 + i
        table.put(entry)
    grown = rss_mb()
    print(f"process table of {len(table)} entries: RSS {grown:.1f} MB (+{grown - base:.1f} MB, "
          f"~{(grown - base) * 1024 * 1024 / 5000:.0f} bytes per entry)")

    # 1. capture-free exec rate
    done, wall = drive(0, 4.0)
    free_rate = done / wall
    print(f"capture-free exec rate: {free_rate:.0f} execs/s ({done} in {wall:.1f}s)")

    # 2. capture at half that rate
    both = load_rules([SHARED_RULES / "falco_rules.yaml", SHARED_RULES / "falco-incubating_rules.yaml"])
    assert both.ruleset is not None, [f.to_dict() for f in both.errors][:3]
    ruleset = both.ruleset
    workdir = Path(tempfile.mkdtemp(prefix="bench-syscall-"))
    recording = workdir / "events.jsonl"

    def capture(seconds: float, *, record: bool) -> dict[str, float]:
        """Run the storm at half the capture-free rate while the engine (or a recorder) consumes the backend."""
        backend = AuditBackend(ruleset.evttypes_needed("syscall"), state_file=workdir / "audit-state.json")
        engine = Engine(ruleset)
        counts = {"events": 0, "alerts": 0}

        def consume() -> None:
            if record:
                with Recorder(recording) as recorder:
                    for event in backend.events():
                        counts["events"] += 1
                        recorder.write(event)
                return
            process = engine.process
            for event in backend.events():
                counts["events"] += 1
                counts["alerts"] += len(process(event))

        peak = [0]
        sampling = threading.Event()

        def sample_backlog() -> None:  # how much of the kernel's backlog the storm used
            from engine.sources.syscall.linux_audit.netlink import AuditSocket
            sock = AuditSocket()
            try:
                while not sampling.wait(0.05):
                    peak[0] = max(peak[0], sock.get_status().backlog)
            finally:
                sock.close()

        backend.open()
        consumer = threading.Thread(target=consume, daemon=True)
        sampler = threading.Thread(target=sample_backlog, daemon=True)
        try:
            consumer.start()
            sampler.start()
            time.sleep(0.5)
            cpu0, t0, ev0 = cpu_seconds(), time.monotonic(), counts["events"]
            execs, exec_wall = drive(free_rate / 2, seconds)
            time.sleep(1.0)  # let the backlog drain
            cpu1, t1, ev1 = cpu_seconds(), time.monotonic(), counts["events"]
            lost = backend.kernel_lost()
            drops = backend.stats().dropped
            syscalls = len(backend.syscalls)
        finally:
            sampling.set()
            sampler.join(5)
            backend.stop()
            consumer.join(5)
            backend.close()
        return {"backlog_peak": peak[0], "backlog_limit": backend.backlog_limit, "execs": execs, "exec_wall": exec_wall, "events": ev1 - ev0, "wall": t1 - t0,
                "cpu": cpu1 - cpu0, "lost": lost, "drops": drops, "alerts": counts["alerts"], "syscalls": syscalls}

    got = capture(args.seconds, record=False)
    ev_rate = got["events"] / got["wall"]
    cpu_frac = got["cpu"] / got["wall"]
    exec_rate = got["execs"] / got["exec_wall"]
    print(f"capture at {exec_rate:.0f} execs/s for {got['exec_wall']:.0f}s (target {free_rate / 2:.0f}; "
          f"stable+incubating rules, {got['syscalls']} syscalls audited): {got['events']:.0f} events "
          f"({got['events'] / max(got['execs'], 1):.1f} per exec), {ev_rate:.0f} events/s, {got['alerts']:.0f} alerts")
    print(f"loss: kernel dropped {got['lost']:.0f} records; {got['drops'] - got['lost']:.0f} events discarded "
          f"incomplete or overflowed (drops counter {got['drops']:.0f}); kernel backlog peak "
          f"{got['backlog_peak']:.0f} of {got['backlog_limit']:.0f} records")
    print(f"engine CPU: {got['cpu'] / max(got['events'], 1) * 1e6:.1f} us per event ({cpu_frac * 100:.1f}% of one "
          f"core = {cpu_frac * 100 / (ev_rate / 1000):.1f}% per 1,000 events/s)")
    print(f"storm under capture: {exec_rate:.0f} execs/s = {exec_rate / (free_rate / 2):.2f} of its target (half the "
          f"capture-free rate)")
    recorded = capture(min(args.seconds, 5.0), record=True)
    print(f"recorded {recorded['events']:.0f} events of a {recorded['exec_wall']:.0f}s storm for the replay "
          f"(recorder loss: {recorded['drops']:.0f})")

    # 3. replay through falco_rules.yaml on one core
    stable = load_rules([SHARED_RULES / "falco_rules.yaml"]).ruleset
    assert stable is not None
    n, decode_s, eval_s, matched = replay_through(recording, stable)
    print(f"replay of {n} recorded events through falco_rules.yaml: {n / (decode_s + eval_s):.0f} events/s "
          f"(decode+evaluate), {n / eval_s:.0f} events/s evaluate only, {matched} alerts")

    recording.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
