"""Syscall field extraction and record/replay speed.

Measures, on one representative event (a process five deep in a container opening a file):
* ns per extraction for the fields the upstream rules use most (``proc.name``, ``proc.aname[2]``, ``fd.name``,
  ``evt.arg.flags``...), through the registry's ``FieldSpec.extract`` as compiled rules call it;
* events per second for ``SyscallEvent.to_json()`` and ``SyscallEvent.from_json()`` (the JSON-lines format);
* every upstream rule evaluated against the event, ns per event, when ``engine.rules`` can load them.
Targets: each listed field < 1500 ns; from_json > 25,000 events/s (records of a 5-process chain, ~1.1 KB).
Usage: python tests/bench/bench_syscall_fields.py [--number N]
"""

from __future__ import annotations

import argparse
import os
import sys
import timeit
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from engine.events.syscall import ContainerInfo, FdInfo, ProcessInfo, SyscallEvent
from engine.fields import lookup

FIELDS = [("evt.type", None), ("proc.name", None), ("proc.pname", None), ("proc.aname", 2), ("proc.aname", None),
          ("proc.cmdline", None), ("fd.name", None), ("fd.typechar", None), ("fd.directory", None),
          ("evt.arg", "flags"), ("evt.is_open_read", None), ("container.id", None), ("user.name", None),
          ("thread.cap_effective", None), ("k8s.ns.name", None), ("evt.time.iso8601", None)]


def event() -> SyscallEvent:
    proc = ProcessInfo(pid=1, name="systemd", exepath="/usr/lib/systemd/systemd")
    for pid, name in ((50, "containerd-shim"), (100, "bash"), (101, "python3"), (102, "cat")):
        proc = ProcessInfo(pid=pid, ppid=proc.pid, name=name, exe=name, exepath=f"/usr/bin/{name}", args=["-x"],
                           uid=0, container_id="0123456789ab", parent=proc, cap_effective=0x3FFFFFFFFF)
    fd = FdInfo(num=3, type="file", name="/etc/shadow", directory="/etc", filename="shadow")
    pod = ContainerInfo(id="0123456789ab", name="web", image="nginx:1.25", pod_name="web-0",
                        pod_namespace="prod", pod_labels={"app": "web"})
    return SyscallEvent(type="openat", ts=1_700_000_000_123_456_789, num=1, res=3, proc=proc, fd=fd,
                        container=pod, args={"dirfd": -100, "name": "/etc/shadow", "flags": 0o2000000, "mode": 0})


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--number", type=int, default=100_000)
    args = parser.parse_args(argv)
    ev = event()
    worst = 0.0
    print(f"{'field':<28} ns/extract")
    for name, arg in FIELDS:
        spec = lookup("syscall", name)
        assert spec is not None, name
        extract = spec.extract
        ns = min(timeit.repeat(lambda f=extract, a=arg: f(ev, a), number=args.number, repeat=3)) / args.number * 1e9
        worst = max(worst, ns)
        label = name if arg is None else f"{name}[{arg}]"
        print(f"{label:<28} {ns:8.0f}")
    line = ev.to_json()
    n = args.number // 5
    enc = n / min(timeit.repeat(ev.to_json, number=n, repeat=3))
    dec = n / min(timeit.repeat(lambda: SyscallEvent.from_json(line), number=n, repeat=3))
    print(f"to_json   {enc:10.0f} events/s  ({len(line)} bytes/event)")
    print(f"from_json {dec:10.0f} events/s")
    rules_dir = Path(os.environ.get("FALCOPY_SHARED", REPO.parent / "shared")) / "upstream" / "rules"
    if (rules_dir / "falco_rules.yaml").exists():
        from engine.rules import load_rules

        names = ("falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml")
        result = load_rules([rules_dir / n for n in names], rule_matching="all")
        ruleset = result.ruleset
        if ruleset is not None:
            def run() -> None:
                ev.cache.clear()
                ruleset.evaluate(ev)
            m = args.number // 20
            ns = min(timeit.repeat(run, number=m, repeat=3)) / m * 1e9
            print(f"upstream rules ({len(ruleset.rules)} loaded, {len(ruleset.candidates(ev))} candidates for "
                  f"openat): {ns:.0f} ns/event, all matches")
    ok = worst < 1500 and dec > 25_000
    print(f"targets (field < 1500 ns, from_json > 25k/s): {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
