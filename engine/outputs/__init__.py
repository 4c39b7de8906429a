"""Alert outputs: formatting rule outputs (``formatter``), the alert record (``alert``), queues and sinks.

Owns nothing itself; import the submodules directly.
"""
