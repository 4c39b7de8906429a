"""Audit-log file source: start position, partial lines, rotation by rename, truncation, late file, bad lines."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pytest
from audit_log_support import append, follow_appended

from engine.sources.k8s_audit.file import AuditFileSource
from engine.testing.audit_synth import synth_lines

LINES = synth_lines(30, seed=5)


def ids(events: list[Any]) -> list[str]:
    return [e.obj["auditID"] for e in events]


def expected(lines: list[bytes]) -> list[str]:
    import orjson

    return [orjson.loads(x)["auditID"] for x in lines]


def test_start_at_end_skips_existing_and_buffers_partial_lines(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    log.write_bytes(b"\n".join(LINES[:5]) + b"\n" + LINES[5][:40])  # existing + a half-written line
    src = AuditFileSource(log, start_at="end")
    assert list(src.poll_once()) == []
    append(log, LINES[5][40:] + b"\n" + LINES[6][:100])
    assert list(src.poll_once()) == []  # the line we joined in the middle of is skipped; LINES[6] incomplete
    append(log, LINES[6][100:] + b"\n")
    assert ids(list(src.poll_once())) == expected([LINES[6]])


def test_start_at_beginning_reads_everything(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    log.write_bytes(b"\n".join(LINES[:4]) + b"\n")
    src = AuditFileSource(log, start_at="beginning")
    assert ids(list(src.poll_once())) == expected(LINES[:4])
    assert src.stats().events == 4


def test_a_configured_cluster_name_marks_every_event(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    log.write_bytes(b"\n".join(LINES[:4]) + b"\n")
    named = list(AuditFileSource(log, start_at="beginning", cluster_name="prod-eu-1").poll_once())
    plain = list(AuditFileSource(log, start_at="beginning").poll_once())
    assert ids(named) == expected(LINES[:4]) and {e.cluster_name for e in named} == {"prod-eu-1"}
    assert {e.cluster_name for e in plain} == {None}


def test_rotation_by_rename_reads_old_tail_then_new_file(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    log.write_bytes(LINES[0] + b"\n")
    src = AuditFileSource(log, start_at="beginning")
    got = list(src.poll_once())
    append(log, LINES[1] + b"\n")  # written just before rotation, not yet read
    os.rename(log, tmp_path / "audit.log.1")
    log.write_bytes(LINES[2] + b"\n" + LINES[3] + b"\n")
    got += list(src.poll_once())
    append(log, LINES[4] + b"\n")
    got += list(src.poll_once())
    assert ids(got) == expected(LINES[:5])
    assert src.stats().detail["rotations"] == 1


def test_truncation_restarts_at_zero(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    log.write_bytes(b"\n".join(LINES[:6]) + b"\n")
    src = AuditFileSource(log, start_at="beginning")
    assert len(list(src.poll_once())) == 6
    with open(log, "r+b") as fh:
        fh.truncate(0)
    append(log, LINES[7] + b"\n")
    assert ids(list(src.poll_once())) == expected([LINES[7]])
    assert src.stats().detail["truncations"] == 1


def test_file_appearing_later_is_read_from_its_start(tmp_path: Path) -> None:
    log = tmp_path / "audit.log"
    src = AuditFileSource(log, start_at="end")
    assert list(src.poll_once()) == []
    log.write_bytes(LINES[0] + b"\n")
    assert ids(list(src.poll_once())) == expected([LINES[0]])


def test_bad_lines_are_dropped_counted_and_logged_with_file_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log = tmp_path / "audit.log"
    log.write_bytes(
        LINES[0] + b"\n{broken\n" + b'{"kind":"Pod"}\n' + b"x" * 3000 + b"\n\n" + LINES[1] + b"\n"
    )
    src = AuditFileSource(log, start_at="beginning", max_line_bytes=2048)
    with caplog.at_level(logging.WARNING):
        assert ids(list(src.poll_once())) == expected(LINES[:2])
    assert src.stats().drops == {"invalid_line": 2, "line_too_large": 1}
    assert f"{log}:2: dropped:" in caplog.text and f"{log}:4: dropped: line longer than 2048" in caplog.text


def test_run_follows_until_stopped(tmp_path: Path) -> None:
    _src, got, ended = follow_appended(tmp_path, lambda src, got: src.run(got.append), LINES[:10])
    assert ended and ids(got) == expected(LINES[:10])


def test_bad_start_at() -> None:
    with pytest.raises(ValueError, match="start_at: expected end or beginning"):
        AuditFileSource("x", start_at="middle")
