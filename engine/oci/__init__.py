"""OCI registries and artifacts: ``registry`` talks the distribution API (the only module that does),
``rulesfile`` is falcoctl's rules artifact format, ``follower`` keeps an engine's rules in step with a reference."""
