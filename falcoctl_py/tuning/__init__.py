"""The tuning loop: measure engine overhead and rule noise, propose exceptions and limits, prove nothing is lost.

Modules: ``samples`` (plain data), ``collector`` (the only place parsing scraped Prometheus text), ``costmodel``
(fit CPU/memory costs), ``overhead`` (budgets), ``noise`` (rank rules, explain their alerts), ``proposals``
(Falco exceptions as a rules override file), ``guard`` (detection corpus replay), ``report`` (json/md/html),
``local`` and ``cluster`` (the two ways of running a measurement window). Analysis is pure functions over samples.
"""
