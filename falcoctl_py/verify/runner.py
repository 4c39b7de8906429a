"""Running a loaded suite against the engine on this node, one test after another, and cleaning up after each.

Owns: the run's lifecycle — privilege checks, the agent build, a workspace under ``/tmp`` and the control socket,
the engine process, then per test: ``runIf``, the chain under a root agent, ``before``, resources, steps,
``after``, waiting (up to ``timeout`` seconds) for a matching alert while the test's processes still live (the
engine reads their environment from ``/proc``), and the test's cleanup (processes, created paths) in a
``finally``. SIGTERM is turned into an interruption so the same cleanup runs; users created for the run are
removed at its end. Tests the runner cannot perform yet (``context.container``, ``clientServer``) get the status
``error`` with the reason, never a silent skip.

Must not: parse the suite language (``model``) or decide what matches (``matching``).
"""

from __future__ import annotations

import os
import platform
import secrets
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from falcoctl_py.errors import PrivilegeError
from falcoctl_py.verify.agent import Agent, AgentError, ControlServer, build_agent
from falcoctl_py.verify.chain import Workspace, start_chain, stop_chain
from falcoctl_py.verify.engine_run import EngineProcess
from falcoctl_py.verify.matching import Verdict, judge
from falcoctl_py.verify.model import Test
from falcoctl_py.verify.steps import Leaf, StepError


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


def _unsupported(test: Test) -> str | None:
    if test.container is not None:
        return "context.container is not supported by this runner yet (needs the namespace sandbox)"
    if any(r.type == "clientServer" for r in test.resources):
        return "clientServer resources are not supported by this runner yet (needs a network namespace)"
    return None


class Runner:
    def __init__(self, *, rules: list[Path], backend: str, timeout: float = 5.0) -> None:
        self.rules, self.backend, self.timeout = rules, backend, timeout

    def run(self, tests: list[Test], on_result: Callable[[Result], None]) -> list[Result]:
        check_host()
        agent_bin = build_agent()
        base = Path(tempfile.mkdtemp(prefix="falcopy-verify-", dir="/tmp"))
        base.chmod(0o755)
        ws = Workspace(base)
        results: list[Result] = []
        server = engine = root = None
        try:
            with _sigterm_interrupts():
                server = ControlServer(base)
                engine = EngineProcess(base, self.rules, self.backend)
                root = self._root_agent(server, agent_bin, base)
                for test in tests:
                    result = self._one(test, root=root, server=server, agent_bin=agent_bin, ws=ws, engine=engine)
                    results.append(result)
                    on_result(result)
        finally:
            if root is not None:
                root.quit()
            if engine is not None:
                engine.stop()
            if server is not None:
                server.close()
            ws.close()
            shutil.rmtree(base, ignore_errors=True)
            if self._root_proc is not None:
                self._root_proc.wait(timeout=5)
        return results

    _root_proc: Any = None

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
        reason = _unsupported(test)
        if reason:
            return Result(test, Verdict("error", reason), 0.0)
        test_id = secrets.token_hex(12)
        mark = len(ws.paths)
        agents: list[Agent] = []
        notes: list[str] = []
        env = {k: v for k, v in os.environ.items() if not k.startswith("FALCOPY_VERIFY_")}
        verdict: Verdict | None = None
        leaf: Leaf | None = None
        try:
            agents = start_chain(test.processes, root=root, server=server, agent_bin=agent_bin, ws=ws,
                                 test_id=test_id, base_env=env)
            leaf = Leaf(agents[-1], ws, server=server, agent_bin=agent_bin, test_id=test_id, env=env)
            if test.before:
                notes.append(f"before: {leaf.script(test.before)}")
            for resource in test.resources:
                leaf.create(resource)
            for step in test.steps:
                notes.append(leaf.run_step(step))
            if test.after:
                notes.append(f"after: {leaf.script(test.after)}")
            verdict = self._wait(test, test_id, engine)
        except (StepError, OSError, AgentError, ValueError) as exc:
            verdict = Verdict("error", str(exc))
        finally:
            for extra in leaf.extra if leaf is not None else ():
                extra.quit()
            if agents:
                try:
                    stop_chain(root, agents)
                except (OSError, AgentError):
                    pass
            left = ws.release_paths(mark)
            if left:
                notes.append("not removed: " + "; ".join(left))
        return Result(test, verdict or Verdict("error", "interrupted"), time.monotonic() - started, notes)

    def _wait(self, test: Test, test_id: str, engine: EngineProcess) -> Verdict:
        deadline = time.monotonic() + self.timeout
        while True:
            verdict = judge(test, test_id, engine.snapshot())
            if verdict.status == "pass" or time.monotonic() >= deadline:
                return verdict
            time.sleep(0.05)
