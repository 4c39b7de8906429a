"""Running a loaded suite against the engine on this node, one test after another, and cleaning up after each.

Owns: the run's lifecycle — privilege checks, the agent build, a workspace under ``/tmp`` (control socket, the
container state root the engine reads) and one on ``/dev/shm`` (container layers), the engine process, then per
test: ``runIf``, a sandbox when the test asks for a container or a network (``sandbox``), the chain under a root
agent or the sandbox, ``before``, resources, steps, ``after``, and waiting for the verdict while the test's
processes still live (the engine reads their environment from ``/proc``). The wait ends at a pass, or once the
engine has shown it has seen every event of the test: the runner then executes a barrier process that a rule of
its own (loaded before the user's rules) reports, and alerts are in event order, so a test whose alert is not in
by then has none coming; ``timeout`` bounds the wait when no barrier arrives. Cleanup (processes, sandbox,
created paths) runs in a ``finally``; SIGTERM is turned into an interruption so the same cleanup runs; users
created for the run are removed at its end.

Must not: parse the suite language (``model``) or decide what matches (``matching``).
"""

from __future__ import annotations

import os
import platform
import secrets
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from falcoctl_py.errors import PrivilegeError
from falcoctl_py.verify.agent import Agent, AgentError, ControlServer, build_agent
from falcoctl_py.verify.chain import (
    TEST_ID_ENV,
    Accounts,
    Workspace,
    host_place,
    place_chain,
    start_chain,
    stop_chain,
)
from falcoctl_py.verify.engine_run import EngineProcess
from falcoctl_py.verify.matching import Verdict, judge
from falcoctl_py.verify.model import Test
from falcoctl_py.verify.sandbox import Sandbox, needs_sandbox
from falcoctl_py.verify.schedule import claims, run_side_by_side
from falcoctl_py.verify.steps import Leaf, StepError

BARRIER_RULE = "falcoctl-py verify barrier"


@dataclass
class Result:
    test: Test
    verdict: Verdict
    seconds: float
    steps: list[str] = field(default_factory=list)


@contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    def handler(_sig: int, _frame: Any) -> None:
        raise KeyboardInterrupt
    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def check_host() -> None:
    if os.geteuid() != 0:
        raise PrivilegeError("verify runs real system calls as other users and starts the engine's kernel "
                             "capture: run it as root")
    if platform.machine() not in ("x86_64", "amd64"):
        raise PrivilegeError(f"verify issues x86_64 system calls; this host is {platform.machine()}")


def barrier_rules(name: str) -> str:
    """verify's own rule: an exec of the barrier executable ``name`` (its argv[1] is the sequence number)."""
    return (f"- rule: {BARRIER_RULE}\n"
            "  desc: verify's marker that the engine has processed every event before it\n"
            f"  condition: evt.type in (execve, execveat) and proc.name = {name}\n"
            "  output: verify barrier %proc.args\n"
            "  priority: DEBUG\n"
            "  source: syscall\n")


class Barrier:
    """Executions of a marker process, each answered by an alert of verify's own rule once the engine got there."""

    def __init__(self, base: Path, agent_bin: Path) -> None:
        self.name = f"fpvb{secrets.token_hex(4)}"
        self.path = base / self.name
        shutil.copy2(agent_bin, self.path)
        self.rules = base / "verify-barrier.yaml"
        self.rules.write_text(barrier_rules(self.name))
        self.seq = 0
        self.works = True
        self._lock = threading.Lock()

    def raise_(self, root: Agent) -> int:
        with self._lock:
            self.seq += 1
            seq = self.seq
        pid = root.spawn(str(self.path), [self.name, str(seq)], {})
        root.reap(pid)
        return seq

    @staticmethod
    def seen(alerts: list[dict[str, Any]], seq: int) -> bool:
        want = str(seq)
        return any(a.get("rule") == BARRIER_RULE and str((a.get("output_fields") or {}).get("proc.args")) == want
                   for a in reversed(alerts))


class Runner:
    def __init__(self, *, rules: list[Path], backend: str, timeout: float = 5.0, jobs: int = 4) -> None:
        self.rules, self.backend, self.timeout, self.jobs = rules, backend, timeout, jobs
        self._ids: set[str] = set()  # test ids handed out by this run (their processes carry them)
        self._stopping = False

    def run(self, tests: list[Test], on_result: Callable[[Result], None]) -> list[Result]:
        check_host()
        agent_bin = build_agent()
        base = Path(tempfile.mkdtemp(prefix="falcopy-verify-", dir="/tmp"))
        base.chmod(0o755)
        layers = Path(tempfile.mkdtemp(prefix="falcopy-verify-", dir="/dev/shm" if os.path.isdir("/dev/shm")
                                       else "/tmp"))
        self.state_root = base / "containerd"
        self.layers = layers
        accounts = Accounts()
        results: list[Result] = []
        server = engine = root = None
        try:
            with _sigterm_interrupts():
                (base / "ctl").mkdir(mode=0o755)
                server = ControlServer(base / "ctl")
                self.barrier = Barrier(base, agent_bin)
                engine = EngineProcess(base, [self.barrier.rules, *self.rules], self.backend,
                                       state_root=self.state_root)
                root = self._root_agent(server, agent_bin, base)
                self._check_barrier(root, engine)
                ctx = (root, server, agent_bin, engine)

                def one(test: Test) -> Result:
                    if self._stopping:
                        return Result(test, Verdict("error", "interrupted"), 0.0)
                    return self._one(test, root=ctx[0], server=ctx[1], agent_bin=ctx[2],
                                     ws=Workspace(base, accounts), engine=ctx[3])
                results = run_side_by_side(tests, one, claims_of=claims, jobs=self.jobs, on_result=on_result,
                                           stop=self._stop)
        finally:
            if root is not None:
                root.quit()
            if engine is not None:
                engine.stop()
            if server is not None:
                server.close()
            accounts.close()
            shutil.rmtree(base, ignore_errors=True)
            shutil.rmtree(layers, ignore_errors=True)
            if self._root_proc is not None:
                self._root_proc.wait(timeout=5)
        return results

    _root_proc: Any = None
    barrier: Barrier | None = None

    def _stop(self) -> None:
        """Interrupted: kill every process of a running test (they carry its id) so the tests' own cleanup
        runs at once; the root agent stays to reap them."""
        self._stopping = True
        marks = {f"{TEST_ID_ENV}={i}".encode() for i in self._ids}
        for pid in (int(p) for p in os.listdir("/proc") if p.isdigit()):
            try:
                env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if marks.intersection(env):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def _check_barrier(self, root: Agent, engine: EngineProcess) -> None:
        """Whether this backend reports the barrier at all (else every wait runs to ``timeout``)."""
        assert self.barrier is not None
        seq = self.barrier.raise_(root)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if Barrier.seen(engine.snapshot(), seq):
                return
            time.sleep(0.05)
        self.barrier.works = False

    def _root_agent(self, server: ControlServer, agent_bin: Path, base: Path) -> Agent:
        import subprocess
        token = secrets.token_hex(8)
        path = base / "falcopy-verify"
        shutil.copy2(agent_bin, path)
        env = {k: v for k, v in os.environ.items() if not k.startswith("FALCOPY_VERIFY_")}
        self._root_proc = subprocess.Popen([str(path)], env={**env, **server.env(token)})
        return server.accept(token)

    def _one(self, test: Test, *, root: Agent, server: ControlServer, agent_bin: Path, ws: Workspace,
             engine: EngineProcess) -> Result:
        started = time.monotonic()
        runs, why = test.should_run()
        if not runs:
            return Result(test, Verdict("skipped", why), 0.0)
        test_id = secrets.token_hex(12)
        self._ids.add(test_id)
        mark = len(ws.paths)
        agents: list[Agent] = []
        notes: list[str] = []
        env = {k: v for k, v in os.environ.items() if not k.startswith("FALCOPY_VERIFY_")}
        verdict: Verdict | None = None
        leaf: Leaf | None = None
        sandbox = Sandbox(test, layers=self.layers, state_root=self.state_root) if needs_sandbox(test) else None
        parent = root
        try:
            if sandbox is not None and test.container is not None:
                sandbox.prepare()
                sandbox.place_init(agent_bin)
                exes = place_chain(test.processes, ws=ws, agent_bin=agent_bin,
                                   place=lambda inside, upper: sandbox.place(inside, upper=upper))
            else:
                on_host = host_place(ws)
                shadow = sandbox.shadow if sandbox is not None else []
                exes = place_chain(test.processes, ws=ws, agent_bin=agent_bin,
                                   place=lambda inside, upper: sandbox.place_shadow(inside)
                                   if sandbox is not None and inside in shadow else on_host(inside, upper))
            if sandbox is not None:
                parent = sandbox.enter(root=root, server=server, agent_bin=agent_bin, env=env, test_id=test_id)
                env = {**env, **(test.container.env if test.container else {})}
            agents = start_chain(test.processes, exes, parent=parent, server=server, ws=ws, test_id=test_id,
                                 base_env=env)
            leaf = Leaf(agents[-1], ws, server=server, agent_bin=agent_bin, test_id=test_id, env=env,
                        root=sandbox.root_prefix if sandbox else None)
            if test.before:
                notes.append(f"before: {leaf.script(test.before)}")
            for resource in test.resources:
                leaf.create(resource)
            for step in test.steps:
                notes.append(leaf.run_step(step))
            if test.after:
                notes.append(f"after: {leaf.script(test.after)}")
            verdict = self._wait(test, test_id, engine, root)
        except (StepError, OSError, AgentError, ValueError) as exc:
            verdict = Verdict("error", str(exc))
        finally:
            for extra in leaf.extra if leaf is not None else ():
                extra.quit()
            if agents:
                try:
                    stop_chain(parent, agents)
                except (OSError, AgentError):
                    pass
            if sandbox is not None:
                notes.extend(f"not removed: {x}" for x in sandbox.close(root))
            left = ws.release_paths(mark)
            if left:
                notes.append("not removed: " + "; ".join(left))
        return Result(test, verdict or Verdict("error", "interrupted"), time.monotonic() - started, notes)

    def _wait(self, test: Test, test_id: str, engine: EngineProcess, root: Agent) -> Verdict:
        deadline = time.monotonic() + self.timeout
        seq = self.barrier.raise_(root) if self.barrier is not None and self.barrier.works else None
        while True:
            alerts = engine.snapshot()
            verdict = judge(test, test_id, alerts)
            if verdict.status == "pass" or time.monotonic() >= deadline:
                return verdict
            if seq is not None and Barrier.seen(alerts, seq):
                return judge(test, test_id, engine.snapshot())
            time.sleep(0.02)
