"""Resources and syscall steps, performed by the leaf process through its agent.

Owns: creating each resource in the leaf (``fd`` files and directories — missing parents and a missing file are
created and recorded for removal, an existing file is never truncated —, pipes, eventfd, signalfd, epoll,
inotify and memfd descriptors, and ``process`` children, also executed from a memfd when ``fileLess``), the
values they expose, resolving ``${name.field}`` bindings, turning each syscall step's arguments into raw
arguments (paths, ``struct open_how``, socket addresses), recording paths a step creates (links, ``O_CREAT``)
so they are removed afterwards, and ``before``/``after`` scripts run by bash as children of the leaf.

Must not: build the chain, create namespaces, or match alerts.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import socket
import struct
from pathlib import Path
from typing import Any

from engine.sources.syscall.linux_audit.syscalls import X86_64
from falcoctl_py.verify.agent import Agent, ControlServer
from falcoctl_py.verify.chain import TEST_ID_ENV, Workspace
from falcoctl_py.verify.model import Binding, Resource, Step
from falcoctl_py.verify.syscall_specs import AT_FDCWD, CONSTANTS

O_CREAT = os.O_CREAT


class StepError(RuntimeError):
    """A resource could not be created (the test cannot run as described)."""


def _c(text: str) -> bytes:
    return text.encode() + b"\0"


def sockaddr(address: str) -> bytes:
    """``host:port`` (``[v6]:port``) as a ``struct sockaddr_in``/``sockaddr_in6``; a path as ``sockaddr_un``."""
    host, sep, port = address.rpartition(":")
    if not sep:
        return struct.pack("<H", socket.AF_UNIX) + address.encode()[:107].ljust(108, b"\0")
    ip = ipaddress.ip_address(host.strip("[]") or "0.0.0.0")
    if ip.version == 4:
        return struct.pack("<H", socket.AF_INET) + struct.pack(">H", int(port)) + ip.packed + b"\0" * 8
    return struct.pack("<H", socket.AF_INET6) + struct.pack(">H", int(port)) + b"\0" * 4 + ip.packed + b"\0" * 4


class Leaf:
    """The leaf process of one test: its agent and the values resources and steps exposed."""

    def __init__(self, agent: Agent, ws: Workspace, *, server: ControlServer, agent_bin: Path, test_id: str,
                 env: dict[str, str], root: str | None = None) -> None:
        self.agent, self.ws, self.server, self.agent_bin = agent, ws, server, agent_bin
        self.root = root  # how the runner reaches a container's "/" (its layers go away as a whole)
        self.test_id, self.env = test_id, env
        self.values: dict[str, dict[str, Any]] = {}
        self.notes: list[str] = []
        self.extra: list[Agent] = []  # agents of process resources

    def host_path(self, path: str) -> Path:
        """A path as the leaf sees it, from the runner's side (its root and working directory)."""
        root = self.root or f"/proc/{self.agent.pid}/root"
        if not path.startswith("/"):
            path = os.path.join(os.readlink(f"/proc/{self.agent.pid}/cwd"), path)
        if self.root is None and os.readlink(root) == "/":  # the host's root: a path that stays valid after the leaf is gone
            return Path(os.path.normpath(path))
        return Path(root + os.path.normpath(path))

    def _created(self, host: Path) -> None:
        if self.root is None:  # in a container, everything written lands on its upper layer or tmpfs
            self.ws.created(host)

    def _make_dirs(self, directory: Path) -> None:
        if self.root is None:
            self.ws.make_dirs(directory)
        else:
            directory.mkdir(parents=True, exist_ok=True)

    def call(self, name: str, *args: int | bytes | None) -> int:
        result = self.agent.syscall(X86_64[name], *args)
        if not result.ok:
            raise StepError(f"{name} failed: {os.strerror(result.errno)}")
        return result.ret

    # -- resources ----------------------------------------------------------------------------------------
    def create(self, r: Resource) -> None:
        p = r.props
        if r.type == "fd":
            self.values[r.name] = self._fd(str(p["subtype"]), p)
        elif r.type == "process":
            self.values[r.name] = {"pid": self._process(p)}
        else:
            self.values[r.name] = self._client_server(str(p["l4Proto"]), str(p.get("address") or ""))

    def _fd(self, subtype: str, p: dict[str, Any]) -> dict[str, Any]:
        if subtype in ("file", "directory"):
            path = str(p["filePath" if subtype == "file" else "dirPath"])
            host = self.host_path(path)
            self._make_dirs(host.parent if subtype == "file" else host)
            if subtype == "file":
                existed = host.exists()
                fd = self.call("open", _c(path), os.O_RDONLY | O_CREAT, 0o644)
                if not existed:
                    self._created(host)
            else:
                fd = self.call("open", _c(path), os.O_RDONLY | os.O_DIRECTORY, 0)
            return {"fd": fd}
        if subtype == "pipe":
            buf = b"\0" * 8
            result = self.agent.syscall(X86_64["pipe2"], buf, 0)
            if not result.ok:
                raise StepError(f"pipe2 failed: {os.strerror(result.errno)}")
            read_fd, write_fd = struct.unpack("<ii", result.buffers[0])
            return {"readFd": read_fd, "writeFd": write_fd}
        if subtype == "event":
            return {"fd": self.call("eventfd2", 0, 0)}
        if subtype == "signalfd":
            return {"fd": self.call("signalfd4", -1, b"\0" * 8, 8, 0)}
        if subtype == "eventpoll":
            return {"fd": self.call("epoll_create1", 0)}
        if subtype == "inotify":
            return {"fd": self.call("inotify_init1", 0)}
        return {"fd": self.call("memfd_create", _c(str(p["fileName"])), 0)}

    def _process(self, p: dict[str, Any]) -> int:
        token = secrets.token_hex(8)
        name = p.get("procName") or (os.path.basename(p["exePath"]) if p.get("exePath") else
                                     f"eg{secrets.token_hex(3)}")
        env = {**self.env, **p.get("env", {}), **self.server.env(token), TEST_ID_ENV: self.test_id}
        argv = [p.get("exe") or name, *str(p.get("args") or "").split()]
        if p.get("fileLess"):
            fd = self.call("memfd_create", _c(name), 0)
            image = self.agent_bin.read_bytes()
            for at in range(0, len(image), 1 << 20):
                self.call("write", fd, image[at:at + (1 << 20)], len(image[at:at + (1 << 20)]))
            pid = self.agent.spawn("", argv, env, exec_fd=fd)
        else:
            exe = Path(p.get("exePath") or self.ws.base / f"r{secrets.token_hex(4)}" / name)
            host = self.host_path(str(exe))
            self._make_dirs(host.parent)
            host.write_bytes(self.agent_bin.read_bytes())
            host.chmod(0o755)
            self._created(host)
            pid = self.agent.spawn(str(exe), argv, env)
        self.extra.append(self.server.accept(token))  # kept connected: it lives until the test ends
        return pid

    def _client_server(self, proto: str, address: str) -> dict[str, Any]:
        """A server and a client connected to it, both in the leaf (the runner gave it a network namespace
        with the address on its loopback): ``client.fd`` and ``server.fd`` (for TCP and unix streams the
        server's end of the accepted connection, for UDP the bound socket)."""
        family = {"4": socket.AF_INET, "6": socket.AF_INET6}.get(proto[-1], socket.AF_UNIX)
        kind = socket.SOCK_DGRAM if proto.startswith("udp") else socket.SOCK_STREAM
        if family == socket.AF_UNIX:
            address = address or f"/tmp/falcopy-cs-{secrets.token_hex(4)}.sock"
            if address.startswith("/"):
                self._created(self.host_path(address))
        addr = sockaddr(address)
        server = self.call("socket", family, kind, 0)
        if family != socket.AF_UNIX:
            self.call("setsockopt", server, socket.SOL_SOCKET, socket.SO_REUSEADDR, struct.pack("<i", 1), 4)
        self.call("bind", server, addr, len(addr))
        if kind == socket.SOCK_STREAM:
            self.call("listen", server, 8)
        client = self.call("socket", family, kind, 0)
        self.call("connect", client, addr, len(addr))
        if kind == socket.SOCK_STREAM:
            server = self.call("accept4", server, None, None, 0)
        return {"client.fd": client, "server.fd": server}

    # -- steps --------------------------------------------------------------------------------------------
    def _value(self, value: Any) -> Any:
        if isinstance(value, Binding):
            return self.values[value.target][value.path]
        return value

    def run_step(self, step: Step) -> str:
        """Issue one syscall step; a one-line account of what it returned."""
        a = {k: self._value(v) for k, v in step.args.items()}
        name = step.syscall
        created: list[str] = []
        raw: tuple[Any, ...]
        if name in ("open", "openat", "openat2"):
            flags = a.get("flags", (a.get("how") or {}).get("flags", 0))
            if flags & O_CREAT:
                created.append(a["pathname"])
            if name == "open":
                raw = (_c(a["pathname"]), a["flags"], a.get("mode", 0))
            elif name == "openat":
                raw = (a.get("dirFd", AT_FDCWD), _c(a["pathname"]), a["flags"], a.get("mode", 0))
            else:
                how = a.get("how") or {}
                raw = (a.get("dirFd", AT_FDCWD), _c(a["pathname"]),
                       struct.pack("<QQQ", how.get("flags", 0), how.get("mode", 0), how.get("resolve", 0)), 24)
        elif name in ("symlink", "symlinkat"):
            created.append(a["linkPath"])
            raw = ((_c(a["target"]), _c(a["linkPath"])) if name == "symlink" else
                   (_c(a["target"]), a.get("newDirFd", AT_FDCWD), _c(a["linkPath"])))
        elif name in ("link", "linkat"):
            created.append(a["newPath"])
            raw = ((_c(a["oldPath"]), _c(a["newPath"])) if name == "link" else
                   (a.get("oldDirFd", AT_FDCWD), _c(a["oldPath"]), a.get("newDirFd", AT_FDCWD), _c(a["newPath"]),
                    a.get("flags", 0)))
        elif name in ("write", "read"):
            buf = str(a.get("buffer") or "").encode()
            length = a.get("len", len(buf))
            raw = (a["fd"], buf.ljust(length, b"\0") if name == "read" else buf, length)
        elif name == "init_module":
            image = str(a["moduleImage"]).encode()
            raw = (image, len(image), _c(a.get("paramValues") or ""))
        elif name == "finit_module":
            raw = (a["fd"], _c(a.get("paramValues") or ""), a.get("flags", 0))
        elif name == "connect":
            addr = sockaddr(a["address"])
            raw = (a["fd"], addr, len(addr))
        elif name == "sendto":
            buf, addr = str(a["buf"]).encode(), sockaddr(a["destAddr"])
            raw = (a["fd"], buf, a.get("len", len(buf)), a["flags"], addr, len(addr))
        elif name in ("dup", "dup2", "dup3"):
            raw = (a["oldFd"],) if name == "dup" else (a["oldFd"], a["newFd"], *((a.get("flags", 0),)
                                                                                  if name == "dup3" else ()))
        elif name == "socket":
            raw = (a["domain"], a["type"], a["protocol"])
        else:  # kill
            raw = (a["pid"], a["sig"])
        before = {p: self.host_path(p).exists() or self.host_path(p).is_symlink() for p in created}
        result = self.agent.syscall(X86_64[name], *raw)
        for path, existed in before.items():
            host = self.host_path(path)
            if not existed and (host.exists() or host.is_symlink()):
                self._created(host)
        self.values[step.name] = {**a, "ret": result.ret}
        if "how" in a:
            self.values[step.name].update({f"how.{k}": v for k, v in a["how"].items()})
        return f"{step.name}: {name} = {result.describe()}"

    def script(self, text: str) -> str:
        """Run a bash script as a child of the leaf; its exit status as text."""
        bash = "/bin/bash" if os.path.exists("/bin/bash") else "/usr/bin/bash"
        pid = self.agent.spawn(bash, ["bash", "-c", text], {**self.env, TEST_ID_ENV: self.test_id})
        status = self.agent.reap(pid)
        return "ok" if status == 0 else f"exit status {os.waitstatus_to_exitcode(status) if status > 0 else status}"


__all__ = ["CONSTANTS", "Leaf", "StepError", "sockaddr"]
