"""Event models: the normalized syscall event (``engine.events.syscall``) every syscall backend produces, and the
Kubernetes audit event (``engine.events.k8s_audit``) the audit decoder produces.

Owns the shapes events have once a source has decoded them, so rules, fields and state can read events without
knowing where they came from. Must not: import a source, read the kernel, files or sockets, or know rules.
"""
