"""Install/upgrade orchestration: preflight, namespace + Pod Security labels, webhook certificate, values, render,
diff, helm, rollout watch and health checks.

Owns the order of those steps and the rule that ``--dry-run`` makes no mutating API call. It talks to the cluster
only through ``falcoctl_py.k8s`` and to helm only through an injected runner (``falcoctl_py.helm.Helm`` in real
use, a recorder in tests); it must not print (callers pass ``say``/``confirm`` callbacks).
"""
