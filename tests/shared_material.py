"""Where upstream Falco material lives for tests: ``../shared`` beside the repository, or ``$FALCOPY_SHARED``.

Import it from any test (``from shared_material import require_shared``; ``tests/`` is on pytest's pythonpath).
Tests that need the material skip with a clear reason when it is absent, and fail instead when ``CI=true``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def shared_dir() -> Path | None:
    env = os.environ.get("FALCOPY_SHARED")
    path = Path(env) if env else REPO.parent / "shared"
    return path if path.is_dir() else None


def require_shared(*parts: str) -> Path:
    """Return ``shared/<parts>``; skip (or fail under CI=true) when it is missing."""
    base = shared_dir()
    path = base.joinpath(*parts) if base else None
    if path is None or not path.exists():
        msg = (f"upstream material {'/'.join(parts) or 'shared/'} not found "
               f"(looked in {os.environ.get('FALCOPY_SHARED') or REPO.parent / 'shared'}; set FALCOPY_SHARED)")
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return path


def audit_event_files(conformance: Path) -> tuple[list[Path], list[Path]]:
    """The k8s audit conformance event files as (readable, rejected): a file a case expects reading to fail
    on (``expect_error_regex``) is not audit data, so tests that feed every event file skip it."""
    import yaml  # only the tests that need the corpus pay for it

    folder = conformance / "k8saudit"
    cases = yaml.safe_load((folder / "cases.yaml").read_text())["cases"]
    rejected = {(folder / c["events"]).resolve() for c in cases if "expect_error_regex" in c}
    files = sorted((folder / "events").glob("*.json"))
    return [f for f in files if f.resolve() not in rejected], [f for f in files if f.resolve() in rejected]
