"""Sharing the kernel with other test runs on the same machine.

Owns: ``kernel_lock()``, held by a test around the part that changes kernel state (audit rules, eBPF programs,
namespaces, a live syscall capture) so that runs sharing a machine do not see each other's events or programs.
The lock is the file named by ``$FALCOPY_KERNEL_LOCK`` (``flock(2)``, the lock ``flock(1)`` takes on the same
file); without the variable nothing is locked (a CI job has the machine to itself). Set the variable instead of
wrapping the whole pytest run in ``flock`` on that file: the run would then wait for itself.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager

LOCK_ENV = "FALCOPY_KERNEL_LOCK"


@contextmanager
def kernel_lock() -> Iterator[None]:
    """Exclusive use of the kernel for the block (waits for other holders); a no-op when no lock is named."""
    path = os.environ.get(LOCK_ENV)
    if not path:
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
