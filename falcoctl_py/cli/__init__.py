"""The ``falcoctl-py`` command line: one module per command, registered lazily in ``main.COMMANDS``."""
