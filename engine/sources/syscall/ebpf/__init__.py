"""The ``ebpf`` syscall backend: a CO-RE probe (``probe.bpf.c``, built at setup) read through libbpf.

Owns: nothing itself; ``backend`` (lifecycle, checks), ``decode`` (records -> events), ``ring`` (the mmapped
ring buffer), ``specs`` (the in-kernel syscall filter) and ``libbpf`` (the ctypes binding) each own one part.
Must not: be imported by rules, fields or state code (arrows point from sources to them).
"""
