"""The bundled Falco-compatible rules engine (runs as the DaemonSet process).

This package never imports ``falcoctl_py``. See ARCHITECTURE.md for how an event travels through it.
"""

__version__ = "0.1.0"

# The Falco engine version whose rules semantics this engine implements (rules' required_engine_version
# is checked against it).
FALCO_ENGINE_VERSION = "0.57.0"
