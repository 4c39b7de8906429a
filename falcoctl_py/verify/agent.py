"""The runner's side of the process agent (``agent.c``): building it, listening for it, and talking to it.

Owns: compiling the agent once per source version into a cache directory (``cc``, or ``$CC``), the control
socket every agent connects back to (``ControlServer``; agents introduce themselves with a token, the peer's
pid in our namespace comes from ``SO_PEERCRED``), and ``Agent``, one connected process: raw system calls with
integer and buffer arguments, spawning a child with argv, environment, credentials, capabilities or an exec
from a file descriptor, reaping and quitting.

Must not: know the suite language, create namespaces or decide what a test does (``chain``, ``sandbox`` and
``steps`` do).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from falcoctl_py.errors import PrivilegeError

SOURCE = "agent.c"
F_CAPS, F_EXECFD = 1, 2
SB_ROOT, SB_MOUNT, SB_PID, SB_UTS, SB_IPC, SB_NET = 1, 2, 4, 8, 16, 32
_CACHE_ENV = "FALCOPY_CACHE_DIR"


class AgentError(RuntimeError):
    """The agent went away or answered something unexpected."""


def _cache_dir() -> Path:
    base = os.environ.get(_CACHE_ENV) or os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "falcoctl-py"


def build_agent() -> Path:
    """The compiled agent for this source (built on first use; ``PrivilegeError`` without a C compiler)."""
    source = resources.files("falcoctl_py.verify").joinpath(SOURCE).read_bytes()
    digest = hashlib.sha256(source).hexdigest()[:16]
    target = _cache_dir() / f"verify-agent-{digest}"
    if target.is_file() and os.access(target, os.X_OK):
        return target
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if compiler is None:
        raise PrivilegeError("verify needs a C compiler (cc, gcc or clang; or $CC) to build its process agent "
                             "once; install one (Debian: apt-get install gcc)")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        src = Path(tmp) / SOURCE
        src.write_bytes(source)
        out = Path(tmp) / "agent"
        done = subprocess.run([compiler, "-O2", "-o", str(out), str(src)], capture_output=True, text=True,
                              check=False)
        if done.returncode != 0:
            raise PrivilegeError(f"building the verify agent with {compiler} failed: "
                                 f"{done.stderr.strip().splitlines()[-1:] or done.returncode}")
        out.chmod(0o755)
        os.replace(out, target)
    return target


def _pack_str(value: bytes) -> bytes:
    return struct.pack("<I", len(value)) + value


def _pack_vec(values: list[bytes]) -> bytes:
    return struct.pack("<I", len(values)) + b"".join(_pack_str(v) for v in values)


@dataclass
class SyscallResult:
    ret: int
    errno: int
    buffers: list[bytes]

    @property
    def ok(self) -> bool:
        return self.ret >= 0

    def describe(self) -> str:
        return str(self.ret) if self.ok else f"-1 ({os.strerror(self.errno)})"


class Agent:
    """One connected agent process (``pid`` in the runner's pid namespace)."""

    def __init__(self, sock: socket.socket, pid: int, token: str) -> None:
        self.sock = sock
        self.pid = pid
        self.token = token
        self.children: list[int] = []  # pids in the agent's own namespace, spawned through it
        self.spawned_as: int | None = None  # this agent's pid in its parent agent's namespace
        self._lock = threading.Lock()  # one request at a time (tests running side by side share the root)

    def _request(self, payload: bytes) -> bytes:
        with self._lock:
            try:
                self.sock.sendall(struct.pack("<I", len(payload)) + payload)
                size = struct.unpack("<I", self._recv(4))[0]
                return self._recv(size)
            except OSError as exc:
                raise AgentError(f"agent {self.pid} went away ({exc})") from None

    def _recv(self, n: int) -> bytes:
        chunks = bytearray()
        while len(chunks) < n:
            got = self.sock.recv(n - len(chunks))
            if not got:
                raise AgentError(f"agent {self.pid} closed its connection")
            chunks += got
        return bytes(chunks)

    def syscall(self, nr: int, *args: int | bytes | None) -> SyscallResult:
        """Issue syscall ``nr``; ``bytes`` arguments are passed as pointers and returned after the call."""
        if len(args) > 6:
            raise ValueError("at most six syscall arguments")
        body = bytearray(b"S" + struct.pack("<IB", nr, len(args)))
        for arg in args:
            if arg is None:
                body += b"i" + struct.pack("<q", 0)
            elif isinstance(arg, bytes):
                body += b"b" + _pack_str(arg)
            else:
                body += b"i" + struct.pack("<q", ctypes.c_int64(int(arg)).value)
        answer = self._request(bytes(body))
        ret, err = struct.unpack_from("<qi", answer)
        lens = struct.unpack_from("<6I", answer, 12)
        at, buffers = 36, []
        for i, arg in enumerate(args):
            if isinstance(arg, bytes):
                buffers.append(answer[at:at + lens[i]])
            at += lens[i]
        return SyscallResult(ret, err, buffers)

    def spawn(self, path: str, argv: list[str], env: dict[str, str], *, uid: int = -1, gid: int = -1,
              caps: tuple[int, int] | None = None, exec_fd: int = -1) -> int:
        """Fork and exec a child; its pid (in the agent's namespace). ``OSError`` when the exec failed."""
        flags = (F_CAPS if caps is not None else 0) | (F_EXECFD if exec_fd >= 0 else 0)
        prm, inh = caps or (0, 0)
        body = b"X" + struct.pack("<IiiiQQ", flags, uid, gid, exec_fd, prm, inh) + _pack_str(path.encode())
        body += _pack_vec([a.encode() for a in argv]) + _pack_vec([f"{k}={v}".encode() for k, v in env.items()])
        pid, err = struct.unpack("<qq", self._request(body))
        if pid < 0:
            raise OSError(int(err), f"exec {path}: {os.strerror(int(err))}")
        self.children.append(int(pid))
        return int(pid)

    def sandbox(self, flags: int, *, lower: str = "", upper: str = "", work: str = "", merged: str = "",
                hostname: str = "", bind: str = "") -> None:
        """Move the agent into new namespaces (``SB_*`` flags) and, with ``SB_ROOT``, pivot it into an overlay
        of ``lower`` (``:``-separated layers, may be empty) over the host's root, with ``upper`` and ``work`` on
        the writable side, mounted at ``merged``, with the host directory ``bind`` at the same path inside.
        ``OSError`` naming the errno when the kernel refused."""
        body = b"C" + struct.pack("<I", flags) + b"".join(_pack_str(v.encode()) for v in
                                                          (lower, upper, work, merged, hostname, bind))
        ret, err = struct.unpack("<qq", self._request(body))
        if ret < 0:
            raise OSError(int(err), f"entering the sandbox: {os.strerror(int(err))}")

    def reap(self, pid: int) -> int:
        """Wait for a child of the agent; its wait status (negative errno when there is none)."""
        _got, status = struct.unpack("<qq", self._request(b"R" + struct.pack("<i", pid)))
        if pid in self.children:
            self.children.remove(pid)
        return int(status)

    def quit(self) -> None:
        try:
            self.sock.sendall(struct.pack("<I", 1) + b"Q")
        except OSError:
            pass
        self.sock.close()


class ControlServer:
    """The Unix socket agents connect back to, in a directory of its own (mode 0755: any test user may connect)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / "ctl.sock"
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(str(self.path))
        self.path.chmod(0o777)
        self._sock.listen(64)
        self._waiting: dict[str, Agent] = {}
        self._lock = threading.Lock()  # one thread accepts at a time; agents for others wait in _waiting

    def env(self, token: str) -> dict[str, str]:
        return {"FALCOPY_VERIFY_SOCK": str(self.path), "FALCOPY_VERIFY_TOKEN": token}

    def accept(self, token: str, *, timeout: float = 10.0) -> Agent:
        """The agent that introduces itself with ``token`` (others that arrive first are kept for their
        callers, which may be other threads)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if token in self._waiting:
                    return self._waiting.pop(token)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AgentError(f"no agent connected with token {token} within {timeout:.0f}s")
                self._sock.settimeout(min(left, 0.2))
                try:
                    conn, _ = self._sock.accept()
                except TimeoutError:
                    continue
                conn.settimeout(timeout)
                pid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))[0]
                size = struct.unpack("<I", _recv_exact(conn, 4))[0]
                got = _recv_exact(conn, size).decode(errors="replace")
                conn.settimeout(None)
                agent = Agent(conn, pid, got)
                if got == token:
                    return agent
                self._waiting[got] = agent

    def close(self) -> None:
        self._sock.close()
        for agent in self._waiting.values():
            agent.quit()
        self._waiting.clear()
        self.path.unlink(missing_ok=True)


def _recv_exact(conn: socket.socket, n: int) -> bytes:
    data = bytearray()
    while len(data) < n:
        got = conn.recv(n - len(data))
        if not got:
            raise AgentError("an agent closed its connection during its introduction")
        data += got
    return bytes(data)
