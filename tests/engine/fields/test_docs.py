"""``docs/fields.md`` is generated from the tables and is up to date."""

from __future__ import annotations

from pathlib import Path

from engine.fields import fields_for_source
from engine.fields.docs import render_markdown

DOC = Path(__file__).resolve().parents[3] / "docs" / "fields.md"


def test_every_syscall_field_is_documented() -> None:
    text = render_markdown()
    for name in fields_for_source("syscall"):
        assert f"`{name}" in text, name
    assert "`proc.aname`, `proc.aname[N]`" in text
    assert "`k8s.pod.label[KEY]`, `k8s.pod.label.KEY`" in text
    assert "Compatible with the Falco `container` plugin, version 0.4.0." in text


def test_checked_in_file_is_current() -> None:
    assert DOC.read_text() == render_markdown(), \
        "docs/fields.md is stale: regenerate with `python -m engine.fields.docs docs/fields.md`"
