"""The ``k8s_audit`` source kind: Kubernetes audit events from the kube-apiserver.

Owns: the decoder (``decode``: header pass, ``decode_payload``, ``decode_stream``, timestamps; the events it
makes are ``engine.events.k8s_audit.AuditEvent``), the audit webhook (``webhook``) and the audit-log file
follower (``file``). Replays of recorded audit events go through ``engine.sources.replay``, shared with syscall
recordings.

Must not: import anything here at package import time, so the DaemonSet loads only the sources it runs.
"""
