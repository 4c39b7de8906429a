"""The engine image: its daemonless build (``builder``, ``debian_base``) and its OCI layout (``layout``)."""
