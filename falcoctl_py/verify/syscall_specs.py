"""The syscall steps of the suite language: each syscall's arguments, which are optional or binding-only, what a
step exposes to later bindings, and the symbolic constants numeric arguments may be written with.

Owns: ``SYSCALLS`` (the reference's table: write, read, open, openat, openat2, symlink, symlinkat, link, linkat,
init_module, finit_module, dup, dup2, dup3, connect, socket, sendto, kill), ``exposed_fields`` and
``parse_number`` (an integer, or ``|``-separated constants such as ``O_CREAT|O_CLOEXEC|O_RDWR``).

Must not: issue system calls (``steps`` does) or read files.
"""

from __future__ import annotations

import os
import signal
import socket
import stat
from dataclasses import dataclass

AT_FDCWD = -100


@dataclass(frozen=True)
class Arg:
    name: str
    kind: str  # int | fd | str | addr | how
    optional: bool = False
    bind_only: bool = False  # a literal value is refused; unset means "the current directory" for dir fds


def _a(spec: str) -> Arg:
    """``name:kind`` with ``?`` (optional) and ``!`` (binding only) suffixes."""
    name, kind = spec.split(":")
    bind_only = kind.endswith("!")
    optional = kind.endswith("?")
    return Arg(name, kind.rstrip("?!"), optional, bind_only)


def _spec(*args: str, ret: bool = True) -> tuple[tuple[Arg, ...], bool]:
    return tuple(_a(a) for a in args), ret


# syscall -> (arguments, exposes ``ret``)
SYSCALLS: dict[str, tuple[tuple[Arg, ...], bool]] = {
    "write": _spec("fd:fd", "buffer:str?", "len:int?"),
    "read": _spec("fd:fd", "buffer:str?", "len:int?"),
    "open": _spec("pathname:str", "flags:int", "mode:int?"),
    "openat": _spec("dirFd:fd!", "pathname:str", "flags:int", "mode:int?"),
    "openat2": _spec("dirFd:fd!", "pathname:str", "how:how?"),
    "symlink": _spec("target:str", "linkPath:str", ret=False),
    "symlinkat": _spec("target:str", "newDirFd:fd!", "linkPath:str", ret=False),
    "link": _spec("oldPath:str", "newPath:str", ret=False),
    "linkat": _spec("oldDirFd:fd!", "oldPath:str", "newDirFd:fd!", "newPath:str", "flags:int?", ret=False),
    "init_module": _spec("moduleImage:str", "paramValues:str?", ret=False),
    "finit_module": _spec("fd:fd!", "paramValues:str?", "flags:int?", ret=False),
    "dup": _spec("oldFd:fd"),
    "dup2": _spec("oldFd:fd", "newFd:fd"),
    "dup3": _spec("oldFd:fd", "newFd:fd", "flags:int?"),
    "connect": _spec("fd:fd", "address:addr", ret=False),
    "socket": _spec("domain:int", "type:int", "protocol:int"),
    "sendto": _spec("fd:fd!", "buf:str", "flags:int", "destAddr:addr", "len:int?", ret=False),
    "kill": _spec("pid:fd!", "sig:int", ret=False),
}
# Directory-fd arguments that may be left out (the current directory, as the C library's non-at calls use).
DIR_FDS = frozenset({"dirFd", "newDirFd", "oldDirFd"})
HOW_KEYS = ("flags", "mode", "resolve")


def exposed_fields(syscall: str) -> frozenset[str]:
    args, ret = SYSCALLS[syscall]
    names = {a.name for a in args if a.kind != "how"}
    if any(a.kind == "how" for a in args):
        names.update(f"how.{k}" for k in HOW_KEYS)
    if ret:
        names.add("ret")
    return frozenset(names)


def _constants() -> dict[str, int]:
    table: dict[str, int] = {}
    for module, prefixes in ((os, ("O_", "SEEK_", "R_OK", "W_OK", "X_OK", "F_OK")),
                             (socket, ("AF_", "SOCK_", "IPPROTO_", "MSG_", "SOL_", "SO_")),
                             (stat, ("S_I",)), (signal, ("SIG",))):
        for name in dir(module):
            if name.startswith(prefixes) and not name.startswith(("SIG_", "SIGRT")):
                value = getattr(module, name)
                if isinstance(value, int):
                    table[name] = int(value)
    table.update({
        "AT_FDCWD": AT_FDCWD, "AT_SYMLINK_NOFOLLOW": 0x100, "AT_REMOVEDIR": 0x200, "AT_SYMLINK_FOLLOW": 0x400,
        "AT_NO_AUTOMOUNT": 0x800, "AT_EMPTY_PATH": 0x1000, "AT_EACCESS": 0x200,
        "RESOLVE_NO_XDEV": 0x01, "RESOLVE_NO_MAGICLINKS": 0x02, "RESOLVE_NO_SYMLINKS": 0x04,
        "RESOLVE_BENEATH": 0x08, "RESOLVE_IN_ROOT": 0x10, "RESOLVE_CACHED": 0x20,
        "MODULE_INIT_IGNORE_MODVERSIONS": 1, "MODULE_INIT_IGNORE_VERMAGIC": 2, "MODULE_INIT_COMPRESSED_FILE": 4,
        "O_TMPFILE": 0o20200000, "O_PATH": 0o10000000, "O_LARGEFILE": 0o100000,
    })
    return table


CONSTANTS = _constants()


def parse_number(value: object) -> int:
    """An integer argument: a number, a decimal/hex string, or ``A|B|C`` constants (``ValueError`` naming the
    unknown word)."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"expected an integer or constants, got {value!r}")
    if isinstance(value, int):
        return value
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected an integer or constants, got {value!r}")
    total = 0
    for word in (w.strip() for w in value.split("|")):
        try:
            total |= int(word, 0)
            continue
        except ValueError:
            pass
        if word not in CONSTANTS:
            raise ValueError(f"unknown constant {word!r}")
        total |= CONSTANTS[word]
    return total
