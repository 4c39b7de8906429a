"""``falcoctl-py verify`` for real (root, kernel): a container without a runtime, a network namespace with
documentation addresses, users created and removed, a failure reported without waiting out the timeout, an
interrupted run — and the host left as it was found after each (accounts, mounts, cgroups, namespaces, files).

Run under the kernel lock (``flock /tmp/falcopy-kernel.lock``): the engine captures syscalls.
"""

from __future__ import annotations

import json
import os
import signal
import textwrap
import time
from pathlib import Path

import pytest
from cli_support import cli_popen
from hoststate import changes, snapshot

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not Path("/proc/self/mountinfo").exists(),
                                reason="verify needs root and a real Linux kernel")

RULES = """\
- rule: verify live container open
  desc: a file under /etc opened inside a container
  condition: evt.type in (open, openat) and fd.name = /etc/eg_verify_probe and container.id != host
  output: >-
    opened %fd.name in %container.name image=%container.image.repository privileged=%container.privileged
    user=%user.name proc=%proc.name parent=%proc.pname
  priority: WARNING
- rule: verify live redirect
  desc: a connected IPv4 socket duplicated onto stdout
  condition: evt.type = dup2 and evt.rawres = 1 and fd.type = ipv4
  output: redirect %fd.name server=%fd.sip:%fd.sport proto=%fd.l4proto container=%container.id user=%user.name
  priority: NOTICE
"""

SUITE = """\
tests:
  - name: container_open
    rule: verify live container open
    runner: HostRunner
    context:
      container: {image: "registry.example/team/eg:2", name: probe}
      processes:
        - name: eg_parent
        - name: eg_child
    resources:
      - {type: fd, name: f, subtype: file, filePath: /etc/eg_verify_probe}
    expectedOutcome:
      source: syscall
      priority: warning
      outputFields:
        fd.name: /etc/eg_verify_probe
        container.name: probe
        container.image.repository: registry.example/team/eg
        container.privileged: true
        user.name: root
        proc.name: eg_child
        proc.pname: eg_parent
  - name: documentation_address
    rule: verify live redirect
    runner: HostRunner
    context:
      processes: [{name: eg_net, user: eg_verify_u}]
    resources:
      - {type: clientServer, name: cs, l4Proto: tcp4, address: "203.0.113.10:8080"}
    steps:
      - {type: syscall, name: d, syscall: dup2, args: {oldFd: "${cs.client.fd}", newFd: 1}}
    expectedOutcome:
      outputFields:
        fd.sip: 203.0.113.10
        fd.sport: 8080
        fd.l4proto: tcp
        container.id: host
        user.name: eg_verify_u
  - name: wrong_expectation
    rule: verify live redirect
    runner: HostRunner
    resources:
      - {type: clientServer, name: cs, l4Proto: tcp4, address: "127.0.0.1:9999"}
    steps:
      - {type: syscall, name: d, syscall: dup2, args: {oldFd: "${cs.client.fd}", newFd: 1}}
    expectedOutcome:
      outputFields:
        fd.sport: 1234
"""


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    rules, suite = tmp_path / "rules.yaml", tmp_path / "suite.yaml"
    rules.write_text(RULES)
    suite.write_text(SUITE)
    return rules, suite


def test_container_network_and_failure_then_host_as_found(files: tuple[Path, Path]) -> None:
    rules, suite = files
    before = snapshot()
    proc = cli_popen("verify", "--suite", str(suite), "--rules", str(rules), "--timeout", "20", "-o", "json")
    out, err = proc.communicate(timeout=300)
    after = snapshot()
    assert proc.returncode == 1, err  # one test is written to fail
    report = {t["name"]: t for t in json.loads(out)["tests"]}
    assert report["container_open"]["status"] == "pass", report["container_open"]
    assert report["documentation_address"]["status"] == "pass", report["documentation_address"]
    wrong = report["wrong_expectation"]
    assert wrong["status"] == "fail"
    assert wrong["mismatches"] == [{"field": "fd.sport", "expected": "1234", "got": "9999"}]
    assert wrong["seconds"] < 5, "a failing test waits for the barrier, not for --timeout"
    assert not [s for t in report.values() for s in t["steps"] if s.startswith("not removed")]
    assert changes(before, after) == []
    assert not Path("/etc/eg_verify_probe").exists()  # written inside the container: its upper layer only


def test_interrupted_run_removes_everything(files: tuple[Path, Path], tmp_path: Path) -> None:
    rules, _ = files
    suite = tmp_path / "slow.yaml"
    suite.write_text(textwrap.dedent("""\
        tests:
          - name: slow
            rule: verify live container open
            runner: HostRunner
            before: "sleep 60"
            context:
              container: {}
              processes: [{name: eg_slow, user: eg_verify_slow}]
            resources:
              - {type: clientServer, name: cs, l4Proto: udp6, address: "[2001:db8::7]:53"}
        """))
    before = snapshot()
    proc = cli_popen("verify", "--suite", str(suite), "--rules", str(rules))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not snapshot().namespaces - before.namespaces:
        time.sleep(0.2)  # until the container's namespaces exist
    time.sleep(0.5)
    middle = snapshot()
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=60)
    after = snapshot()
    assert changes(before, middle), "the test was interrupted before it had made anything"
    assert any("eg_verify_slow" in line for line in changes(before, middle))
    assert proc.returncode == 130, err
    assert changes(before, after) == []
