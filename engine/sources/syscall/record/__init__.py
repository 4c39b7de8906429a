"""Recording syscall events: the ``Recorder`` that writes delivered events (``recorder``) and the version 2
recording stream format it writes and replay reads (``stream``).

Must not: read the kernel or evaluate rules; replaying a recording is ``engine.sources.replay``'s job.
"""
