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
    # the CLI's logging setup also catches the emulator's own access log (same process): drop those lines
    err = "".join(line for line in out.err.splitlines(keepends=True) if "aiohttp.access" not in line)
    return code, out.out, err
