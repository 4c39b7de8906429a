"""Helpers for the cluster-side CLI tests: run ``main`` in a worker thread (kmock serves on the test's loop)."""

from __future__ import annotations

import asyncio

import pytest

from falcoctl_py.cli.main import main


async def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()

    def call() -> int:
        try:
            main(list(args))
        except SystemExit as exc:
            return int(exc.code or 0)
        return 0

    code = await asyncio.to_thread(call)
    out = capsys.readouterr()
    return code, out.out, out.err
