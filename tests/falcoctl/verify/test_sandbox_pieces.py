"""The parts of verify's container sandbox that need no kernel: where cgroup2 is, the bundle a runtime would
write (read back by the engine's own reader), the addresses a test's loopback needs, and barrier matching."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.state.runtime_state import RuntimeState, info_from_spec
from falcoctl_py.verify.model import Container, Resource
from falcoctl_py.verify.model import Test as SuiteTest
from falcoctl_py.verify.runner import BARRIER_RULE, Barrier, barrier_rules
from falcoctl_py.verify.sandbox import SandboxError, addresses, bundle_spec, cgroup2_root, needs_sandbox

MOUNTINFO_V1_AND_V2 = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
MOUNTINFO_PURE_V2 = "35 24 0:30 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"


def test_cgroup2_is_found_where_it_is_mounted() -> None:
    assert cgroup2_root(MOUNTINFO_V1_AND_V2) == Path("/sys/fs/cgroup/unified")
    assert cgroup2_root(MOUNTINFO_PURE_V2) == Path("/sys/fs/cgroup")
    with pytest.raises(SandboxError, match="cgroup2"):
        cgroup2_root("32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n")


def test_bundle_is_what_the_engine_reads_as_a_privileged_named_container(tmp_path: Path) -> None:
    cid = "ab" * 32
    spec = bundle_spec(cid=cid, container=Container(image="registry.example/team/app:1.2", name="web"),
                       pod_uid="0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", cgroup="x", hostname=cid[:12], net=True)
    info = info_from_spec(cid, spec)
    assert (info.id, info.name, info.image) == (cid[:12], "web", "registry.example/team/app:1.2")
    assert (info.image_repository, info.image_tag) == ("registry.example/team/app", "1.2")
    assert info.privileged is True
    assert info.host_network is False and info.host_pid is False
    # and through the state-root lookup the engine does at runtime (containerd's <root>/<ns>/<id>/config.json)
    import orjson
    bundle = tmp_path / "k8s.io" / cid
    bundle.mkdir(parents=True)
    (bundle / "config.json").write_bytes(orjson.dumps(spec))
    found = RuntimeState([str(tmp_path)]).lookup(cid[:12])
    assert found is not None and found.name == "web" and found.pod_namespace == "falcopy-verify"


def _test(*resources: Resource, container: Container | None = None) -> SuiteTest:
    return SuiteTest(name="t", rule="R", file=Path("s.yaml"), line=1, resources=resources, container=container)


def test_addresses_for_the_loopback_and_when_a_sandbox_is_needed() -> None:
    cs = [Resource("clientServer", f"c{i}", {"l4Proto": p, "address": a})
          for i, (p, a) in enumerate([("tcp4", "203.0.113.9:80"), ("udp6", "[2001:db8::5]:53"),
                                      ("tcp4", "203.0.113.9:81"), ("unix", "")])]
    assert addresses(_test(*cs)) == ["203.0.113.9", "2001:db8::5"]
    assert needs_sandbox(_test(*cs))
    assert needs_sandbox(_test(container=Container()))
    assert not needs_sandbox(_test(Resource("fd", "f", {"subtype": "pipe"})))


def test_step_destinations_get_the_tests_own_loopback_too() -> None:
    from falcoctl_py.verify.model import Binding, Step

    steps = (Step("c", "connect", {"fd": Binding("s", "ret"), "address": "198.51.100.7:22"}),
             Step("u", "sendto", {"fd": Binding("s", "ret"), "buf": "x", "flags": 0, "destAddr": "[2001:db8::9]:53"}),
             Step("l", "connect", {"fd": 3, "address": "127.0.0.1:80"}),  # loopback: the host's own, left alone
             Step("b", "connect", {"fd": 3, "address": Binding("c", "address")}))
    test = SuiteTest(name="t", rule="R", file=Path("s.yaml"), line=1, steps=steps)
    assert addresses(test) == ["198.51.100.7", "2001:db8::9"]
    assert needs_sandbox(test)
    only_loopback = SuiteTest(name="t", rule="R", file=Path("s.yaml"), line=1, steps=steps[2:3])
    assert not needs_sandbox(only_loopback)


def test_barrier_rule_loads_and_only_its_own_sequence_counts(tmp_path: Path) -> None:
    from engine.rules.loader import load_rules

    result = load_rules([("barrier.yaml", barrier_rules("fpvb12345678"))])
    assert not result.errors and not result.warnings, (result.errors, result.warnings)
    alerts = [{"rule": BARRIER_RULE, "output_fields": {"proc.args": "3"}},
              {"rule": "Other", "output_fields": {"proc.args": "4"}}]
    assert Barrier.seen(alerts, 3)
    assert not Barrier.seen(alerts, 4)


def test_shared_parent_cgroups_go_with_the_last_test_and_only_when_made(tmp_path: Path) -> None:
    from falcoctl_py.verify.sandbox import _SharedCgroups

    shared = _SharedCgroups()
    made, kept = tmp_path / "kubepods.slice", tmp_path / "existing.slice"
    kept.mkdir()
    for _ in range(2):  # two side-by-side tests
        shared.acquire(made)
        shared.acquire(kept)
    assert shared.release(made) == [] and made.is_dir()  # the other test's pod may still be below it
    assert shared.release(made) == [] and not made.exists()
    shared.release(kept)
    shared.release(kept)
    assert kept.is_dir()  # not ours to remove
    shared.acquire(made)
    (made / "pod").mkdir()  # something we did not make keeps it busy
    assert shared.release(made) == [f"cgroup {made}: Directory not empty"]


def test_a_taken_exe_path_on_the_host_is_shadowed_in_a_mount_namespace(tmp_path: Path) -> None:
    from falcoctl_py.verify.model import Process
    from falcoctl_py.verify.sandbox import shadowed

    taken = tmp_path / "ssh"
    taken.write_text("the host's own")
    chain = (Process(exe_path=str(taken)), Process(exe_path=str(tmp_path / "free" / "nc")))
    host = SuiteTest(name="t", rule="R", file=Path("s.yaml"), line=1, processes=chain)
    assert shadowed(host) == [str(taken)]
    assert needs_sandbox(host)
    inside = SuiteTest(name="t", rule="R", file=Path("s.yaml"), line=1, processes=chain, container=Container())
    assert shadowed(inside) == []  # a container's files are its own layers
    free = SuiteTest(name="t", rule="R", file=Path("s.yaml"), line=1, processes=chain[1:])
    assert not needs_sandbox(free)
