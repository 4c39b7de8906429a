"""Every ``AuditFileSource`` a test builds is closed when the test ends (its open log would warn otherwise)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from engine.sources.k8s_audit.file import AuditFileSource


@pytest.fixture(autouse=True)
def _close_audit_file_sources(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    made: list[AuditFileSource] = []
    init = AuditFileSource.__init__

    def tracking(self: AuditFileSource, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(AuditFileSource, "__init__", tracking)
    yield
    for source in made:
        source.close()
