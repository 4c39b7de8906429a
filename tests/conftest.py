"""Shared fixtures: upstream Falco material (see ``shared_material``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from shared_material import REPO, require_shared, shared_dir

__all__ = ["REPO", "require_shared", "shared_dir"]


@pytest.fixture(scope="session")
def shared() -> Path:
    return require_shared()


@pytest.fixture(scope="session")
def upstream_rules() -> Path:
    return require_shared("upstream", "rules")


@pytest.fixture(scope="session")
def conformance() -> Path:
    return require_shared("conformance")
