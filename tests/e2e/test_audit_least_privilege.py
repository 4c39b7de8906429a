"""The audit backend as the chart runs it, in both modes, with only what the rendered DaemonSet gives it.

``auditMode: unicast``: the host PID namespace, its own network namespace, AUDIT_CONTROL alone — the engine
becomes the audit pid, adds its rule, raises alerts for host processes, and leaves the audit state as it found
it. ``auditMode: multicast`` (read-only): the host network namespace, its own PID namespace, AUDIT_READ alone —
the host plays its part as on a real node (a stand-in auditd owns the audit pid; the rules
``falcoctl-py engine audit-rules`` prints are installed, as an operator installs them in
``/etc/audit/rules.d/``), and the engine reads their records without changing anything in the kernel.

Then each capability and host namespace the render grants is taken away in turn (``PROOF``: what breaks without
it; it must name all of them). Needs root, a kernel with audit, ``unshare`` and ``setpriv``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from audit_support import audit_snapshot, other_audit_daemon
from pod_support import REPO, granted, marker_fields, marker_rule_values, node_pod, run_pod, tools_missing

from falcoctl_py.render import render
from falcoctl_py.values import build_values

pytestmark = [
    pytest.mark.helm,
    pytest.mark.skipif(os.geteuid() != 0 or tools_missing(), reason="needs root, unshare, setpriv and mount"),
]

# What the engine loses without each thing the chart grants, per mode: it refuses to start (exit 4, one line
# naming what is missing). Without the host network namespace the kernel would deliver nothing to the read-only
# group, so the engine refuses rather than wait for records that never come.
PROOF = {
    "unicast": {"AUDIT_CONTROL": ("refused", "CAP_AUDIT_CONTROL"), "hostPID": ("refused", "host PID namespace")},
    "multicast": {"AUDIT_READ": ("refused", "CAP_AUDIT_READ"), "hostNetwork": ("refused", "host network namespace")},
}


@pytest.fixture(scope="module", params=["unicast", "multicast"])
def pod(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    mode = request.param
    owner = audit_snapshot()[1]
    if mode == "unicast" and owner and Path(f"/proc/{owner}").exists():
        pytest.skip(f"an audit daemon (pid {owner}) runs here: the unicast pod would (rightly) refuse to start")
    work = tmp_path_factory.mktemp(f"audit-{mode}")
    extra, marker = marker_rule_values(work)
    backend = work / "backend-values.yaml"
    backend.write_text(yaml.safe_dump({"syscall": {"backend": "audit", "auditMode": mode}}))
    spec = node_pod(render(build_values(profile="small", values_files=[backend, extra]), kube_version="1.35"), work)
    assert spec["section"]["audit"] == {"mode": mode}
    return {**spec, "mode": mode, "marker": marker}


def _granted(pod: dict[str, Any]) -> dict[str, bool]:
    """What the render grants: its capabilities and host namespaces, by name."""
    return {**dict.fromkeys(pod["caps"], True), "hostPID": pod["spec"]["hostPID"],
            "hostNetwork": pod["spec"]["hostNetwork"]}


def _host_rule(rules_dir: Path) -> Any:
    """The rule ``falcoctl-py engine audit-rules`` prints for the pod's rules, as the host's auditd loads it."""
    from engine.sources.syscall.linux_audit.netlink import AuditRule
    from engine.sources.syscall.linux_audit.syscalls import AUDIT_ARCH_X86_64, X86_64
    args = [a for f in sorted(rules_dir.glob("*.yaml")) for a in ("--rules", str(f))]
    done = subprocess.run([sys.executable, "-m", "falcoctl_py.cli.main", "engine", "audit-rules", *args],
                          cwd=REPO, capture_output=True, text=True, check=True)
    (line,) = [x for x in done.stdout.splitlines() if x.startswith("-a ")]
    m = re.fullmatch(r"-a always,exit -F arch=b64 -S (\S+) -k (\S+)", line)
    assert m is not None, line
    return AuditRule(frozenset(X86_64[n] for n in m[1].split(",")), AUDIT_ARCH_X86_64, m[2])


def _rules_of(pod: dict[str, Any]) -> Path:
    return Path(pod["config"]).parent / "rules.d"


@contextlib.contextmanager
def _host(pod: dict[str, Any]) -> Iterator[tuple[int, int, int, list[object], int]]:
    """The node around the pod, yielding the audit state the engine finds: for the read-only mode, an audit
    daemon and the rules the engine reads (installed before, removed after)."""
    from engine.sources.syscall.linux_audit.netlink import AuditSocket
    if pod["mode"] != "multicast":
        yield audit_snapshot()
        return
    rule = _host_rule(_rules_of(pod))
    with other_audit_daemon(enable=True):
        sock = AuditSocket()
        try:
            sock.add_rule(rule)
            yield audit_snapshot()
        finally:
            sock.delete_rule(rule)
            sock.close()


def _run(pod: dict[str, Any], *, without: str | None = None, timeout: float = 40.0) -> dict[str, Any]:
    """The pod with everything the render grants but ``without``; the audit state before and after."""
    spec = dict(pod["spec"])
    if without in ("hostPID", "hostNetwork"):
        spec[without] = False
    caps = [c for c in granted(pod["caps"]) if c != without]
    with _host(pod) as before:
        result = run_pod({**pod, "spec": spec}, caps, pod["marker"], timeout=timeout)
        result["before"], result["after"] = before, audit_snapshot()
    return result


@pytest.fixture(scope="module")
def full(pod: dict[str, Any]) -> dict[str, Any]:
    return _run(pod)


def test_every_grant_has_a_proof(pod: dict[str, Any]) -> None:
    assert {name for name, on in _granted(pod).items() if on} == set(PROOF[pod["mode"]])


def test_what_the_chart_grants_is_enough_and_the_audit_state_is_left_as_found(pod: dict[str, Any],
                                                                              full: dict[str, Any]) -> None:
    fields = marker_fields(full)
    assert full["code"] in (0, -signal.SIGTERM), full["stderr"][-1500:]
    assert fields["proc.exepath"] == shutil.which("cat") and fields["proc.ppid"] == os.getpid()
    assert full["after"] == full["before"], "the engine left the audit state changed"
    if pod["mode"] == "multicast":  # read-only: it never asks the kernel for anything but the group
        assert "AUDIT_GET" not in full["stderr"] and "Traceback" not in full["stderr"]


@pytest.mark.parametrize("taken", ["AUDIT_CONTROL", "hostPID", "AUDIT_READ", "hostNetwork"])
def test_taking_one_grant_away_shows_what_it_is_for(pod: dict[str, Any], full: dict[str, Any], taken: str) -> None:
    proof = PROOF[pod["mode"]].get(taken)
    if proof is None:
        assert not _granted(pod).get(taken), f"{taken} is granted in {pod['mode']} mode but has no proof"
        return
    if taken not in ("hostPID", "hostNetwork") and taken not in granted(pod["caps"]):
        pytest.skip(f"this machine cannot grant {taken} at all")
    result = _run(pod, without=taken, timeout=20.0)
    outcome, named = proof
    assert outcome == "refused"
    assert result["code"] == 4 and named in result["stderr"], (result["code"], result["stderr"][-800:])
    assert "Traceback" not in result["stderr"] and not result["alerts"]
    assert result["after"] == result["before"]


@pytest.mark.parametrize("pod", ["unicast"], indirect=True)  # the read-only mode reads alongside auditd by design
def test_unicast_mode_on_a_node_with_auditd_refuses_and_leaves_auditd_alone(pod: dict[str, Any]) -> None:
    """Another daemon owns the audit pid: reading alongside it takes the read-only group, which the unicast pod
    can neither join (no CAP_AUDIT_READ) nor hear (its own network namespace). The engine says so and stops; the
    daemon keeps the pid and the audit state is as it was."""
    with other_audit_daemon(enable=True) as daemon:
        before = audit_snapshot()
        result = run_pod(pod, granted(pod["caps"]), pod["marker"], timeout=20.0)
        after = audit_snapshot()
    assert result["code"] == 4 and f"another audit daemon (pid {daemon.pid}) owns the audit pid" in result["stderr"], (
        result["code"], result["stderr"][-800:])
    assert "Traceback" not in result["stderr"] and not result["alerts"]
    assert after == before and after[1] == daemon.pid
