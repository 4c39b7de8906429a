"""What events need but do not carry: the process table, container ids from cgroups, pod metadata.

Owns nothing but the package; importing it stays cheap (the pod watcher imports ``kubernetes`` lazily).
"""
