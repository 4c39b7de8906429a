"""falcoctl-py: install, size and tune a Falco-compatible runtime-security engine on Kubernetes.

This package owns the operator-facing CLI and automation. It may import ``engine``; ``engine`` never imports it.
"""

__version__ = "0.1.0"
