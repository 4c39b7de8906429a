"""The ``proc`` syscall backend: the kernel proc connector (fork, exec, exit), in ``backend``.

Must not: change kernel state other than its own subscription, or evaluate rules.
"""
