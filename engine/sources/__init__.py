"""Event sources: one module per source behind the small ``Source`` protocol in ``engine.sources.base``.

Owns nothing but the package; importing it must stay cheap (no source module is imported here), so the
DaemonSet process only loads the sources it runs.
"""
