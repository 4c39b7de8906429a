"""A helm stand-in for orchestration tests: records every argv and answers ``get`` like a missing release
(or a deployed one), and on ``upgrade`` puts the rendered DaemonSets into the emulator as rolled out."""

from __future__ import annotations

from typing import Any

import orjson

from falcoctl_py.errors import HelmError


class FakeHelm:
    def __init__(self, *, deployed_values: dict[str, Any] | None = None, on_upgrade: Any = None) -> None:
        self.calls: list[list[str]] = []
        self.deployed_values = deployed_values
        self.on_upgrade = on_upgrade

    def run(self, args: list[str]) -> str:
        self.calls.append(list(args))
        if args[:2] == ["get", "values"]:
            if self.deployed_values is None:
                raise HelmError(f"helm get: Error: release: not found ({args[2]})")
            return orjson.dumps(self.deployed_values).decode()
        if args[:2] == ["get", "manifest"]:
            if self.deployed_values is None:
                raise HelmError("helm get: Error: release: not found")
            return ""
        if args[0] == "upgrade" and self.on_upgrade is not None:
            self.on_upgrade(args)
        return ""

    def verbs(self) -> list[str]:
        return [" ".join(a[:2]) for a in self.calls]
