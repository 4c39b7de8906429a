"""Event synthesis for tests, benchmarks and the tuning loop (``audit_synth``).

Must not: be imported by the running engine's sources, state, fields or rules.
"""
