"""Process chains: every ``context.processes`` entry becomes a real process, each spawned by the one before.

Owns: where each process's executable goes (``exePath``, or a fresh directory under ``/tmp`` holding a copy of
the agent named ``name``; missing directories are created and removed afterwards), its argv (``exe`` then the
shell-split ``args``), its environment (the runner's, the entry's ``env``, the test id), its user (looked up, or
created with ``useradd`` and removed with ``userdel`` afterwards) and the leaf's capabilities
(``cap_from_text(3)`` syntax). ``Workspace`` records everything created so ``close`` removes it, also after a
failure.

Must not: run resources or steps (``steps``), or match alerts.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shlex
import shutil
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

from falcoctl_py.verify.agent import Agent, AgentError, ControlServer
from falcoctl_py.verify.model import Process

TEST_ID_ENV = "FALCOPY_VERIFY_TEST_ID"
# capability numbers are positions in this list (linux/capability.h order)
CAP_NAMES = (
    "chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid", "setuid",
    "setpcap", "linux_immutable", "net_bind_service", "net_broadcast", "net_admin", "net_raw",
    "ipc_lock", "ipc_owner", "sys_module", "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct",
    "sys_admin", "sys_boot", "sys_nice", "sys_resource", "sys_time", "sys_tty_config", "mknod", "lease",
    "audit_write", "audit_control", "setfcap", "mac_override", "mac_admin", "syslog", "wake_alarm",
    "block_suspend", "audit_read", "perfmon", "bpf", "checkpoint_restore",
)


def parse_caps(text: str) -> tuple[int, int]:
    """(permitted, inheritable) bit masks from ``cap_from_text(3)`` clauses (``ValueError`` on a bad one)."""
    sets = {"p": 0, "i": 0, "e": 0}
    for clause in text.replace(";", " ").split():
        at = min((clause.find(op) for op in "=+-" if op in clause), default=-1)
        if at < 0:
            raise ValueError(f"capability clause {clause!r} has no operator (=, + or -)")
        names, op, flags = clause[:at], clause[at], clause[at + 1:]
        mask = 0
        for name in (n.strip().lower() for n in names.split(",") if n.strip()) if names else ["all"]:
            if name == "all":
                mask |= (1 << len(CAP_NAMES)) - 1
            elif name.removeprefix("cap_") in CAP_NAMES:
                mask |= 1 << CAP_NAMES.index(name.removeprefix("cap_"))
            else:
                raise ValueError(f"unknown capability {name!r}")
        if set(flags) - set("pie"):
            raise ValueError(f"capability flags {flags!r}: only p, i and e")
        for key, value in sets.items():
            if op == "=":
                sets[key] = (value & ~mask) | (mask if key in flags else 0)
            elif key in flags:
                sets[key] = value | mask if op == "+" else value & ~mask
    return sets["p"], sets["i"]


class Accounts:
    """Users created for a run (shared by every test of it), removed by ``close``."""

    def __init__(self) -> None:
        self.users: list[str] = []
        self._lock = threading.Lock()

    def user(self, name: str) -> tuple[int, int]:
        with self._lock:
            try:
                entry = pwd.getpwnam(name)
            except KeyError:
                done = subprocess.run(["useradd", "--system", "--no-create-home", "--user-group", "--shell",
                                       "/usr/sbin/nologin", name], capture_output=True, text=True, check=False)
                if done.returncode != 0:
                    raise OSError(f"useradd {name}: {done.stderr.strip()}") from None
                self.users.append(name)
                entry = pwd.getpwnam(name)
            return entry.pw_uid, entry.pw_gid

    def close(self) -> list[str]:
        left = []
        with self._lock:
            for name in reversed(self.users):
                done = subprocess.run(["userdel", name], capture_output=True, text=True, check=False)
                if done.returncode != 0:
                    left.append(f"user {name}: {done.stderr.strip()}")
            self.users.clear()
        return left


class Workspace:
    """What one test created on the host, removed in reverse order by ``release_paths``; users go to the run's
    ``Accounts``."""

    def __init__(self, base: Path, accounts: Accounts | None = None) -> None:
        self.base = base
        self.paths: list[Path] = []  # files and directories we created, in creation order
        self.accounts = accounts or Accounts()

    def make_dirs(self, directory: Path) -> None:
        missing = []
        while not directory.exists():
            missing.append(directory)
            directory = directory.parent
        for d in reversed(missing):
            d.mkdir(mode=0o755)
            self.paths.append(d)

    def created(self, path: Path) -> None:
        self.paths.append(path)

    def user(self, name: str) -> tuple[int, int]:
        return self.accounts.user(name)

    def release_paths(self, since: int = 0) -> list[str]:
        """Remove what was created after index ``since`` (newest first); what could not be removed."""
        left = []
        while len(self.paths) > since:
            path = self.paths.pop()
            try:
                if path.is_dir() and not path.is_symlink():
                    path.rmdir()
                elif path.exists() or path.is_symlink():
                    path.unlink()
            except OSError as exc:
                left.append(f"{path}: {exc.strerror}")
        return left

    def close(self) -> list[str]:
        return self.release_paths() + self.accounts.close()


def _argv(proc: Process, exe_path: str) -> list[str]:
    argv0 = proc.exe or proc.name or os.path.basename(exe_path)
    return [argv0, *shlex.split(proc.args)]


Place = Callable[[str, bool], Path]  # (path the process sees, on a container's upper layer) -> where to write it


def host_place(ws: Workspace) -> Place:
    """Executables written where they are run, on the host, recorded for removal."""
    def place(inside: str, _upper: bool) -> Path:
        path = Path(inside)
        ws.make_dirs(path.parent)
        if path.exists() or path.is_symlink():
            raise OSError(f"exePath {path} exists already; refusing to overwrite it")
        ws.created(path)
        return path
    return place


def place_chain(procs: tuple[Process, ...], *, ws: Workspace, agent_bin: Path, place: Place) -> list[str]:
    """Write a copy of the agent for every chain process; the executable paths as the processes see them. In a
    container a process that runs as another user gets a copy on the upper layer (a binary added to the
    container), the others one on the image layer, as a runtime copies or links them."""
    exes = []
    for proc in procs:
        name = proc.name or (os.path.basename(proc.exe_path) if proc.exe_path else f"eg{secrets.token_hex(4)}")
        inside = proc.exe_path or str(ws.base / f"p{secrets.token_hex(4)}" / name)
        target = place(inside, bool(proc.user))
        shutil.copy2(agent_bin, target)
        exes.append(inside)
    return exes


def start_chain(procs: tuple[Process, ...], exes: list[str], *, parent: Agent, server: ControlServer,
                ws: Workspace, test_id: str, base_env: dict[str, str]) -> list[Agent]:
    """Spawn the chain below ``parent`` from the placed executables; the agents from first to leaf."""
    agents: list[Agent] = []
    for index, (proc, exe_path) in enumerate(zip(procs, exes, strict=True)):
        leaf = index == len(procs) - 1
        uid = gid = -1
        if proc.user:
            uid, gid = ws.user(proc.user)
        caps = parse_caps(proc.capabilities) if (leaf and proc.capabilities) else None
        token = secrets.token_hex(8)
        env = {**base_env, **proc.env, **server.env(token), TEST_ID_ENV: test_id}
        if proc.name and os.path.basename(exe_path) != proc.name:
            env["FALCOPY_VERIFY_COMM"] = proc.name[:15]
        pid = parent.spawn(exe_path, _argv(proc, exe_path), env, uid=uid, gid=gid, caps=caps)
        parent = server.accept(token)
        parent.spawned_as = pid
        agents.append(parent)
    return agents


def stop_chain(root: Agent, agents: list[Agent]) -> None:
    """Ask every agent to quit, leaf first, each reaped by its parent."""
    parents = [root, *agents[:-1]]
    for agent, parent in zip(reversed(agents), reversed(parents), strict=True):
        for child in list(agent.children):
            try:
                agent.syscall(62, child, 9)  # kill(child, SIGKILL): resources the agent spawned
                agent.reap(child)
            except (OSError, AgentError):
                pass
        agent.quit()
        if agent.spawned_as is not None:  # only this child: the parent may be shared with other tests
            try:
                parent.reap(agent.spawned_as)
            except (OSError, AgentError):
                pass
