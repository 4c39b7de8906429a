"""The ``audit`` syscall backend: the Linux audit subsystem over NETLINK_AUDIT.

Owns: the netlink socket and audit rules (``netlink``), the audit record parser and grouper (``records``), the
syscall number table (``syscalls``), turning record groups into ``SyscallEvent`` objects (``decode``) and the
backend that runs them (``backend``). Must not: evaluate rules, or leave kernel state it changed behind.
"""
