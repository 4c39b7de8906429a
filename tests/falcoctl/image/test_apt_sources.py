"""The base is bootstrapped from the archive the host's apt uses: one-line and deb822 sources, options,
disabled stanzas and files apt ignores."""

from __future__ import annotations

from pathlib import Path

import pytest

from falcoctl_py.errors import UsageError
from falcoctl_py.image.apt_sources import host_suite, mirror_for, read_sources


def _apt(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "apt"
    (root / "sources.list.d").mkdir(parents=True)
    for name, text in files.items():
        (root / name).write_text(text)
    return root


def test_deb822_stanzas_skip_disabled_and_other_suites(tmp_path: Path) -> None:
    root = _apt(tmp_path, {
        "sources.list.d/debian.sources": (
            "Types: deb\n# a comment\nURIs: http://off.example/debian\nSuites: bookworm\nComponents: main\n"
            "Enabled: no\n\n"
            "Types: deb-src deb\nURIs: http://mirror.example/debian/\nSuites: bookworm bookworm-updates\n"
            "Components: main contrib\nSigned-By:\n  -----BEGIN PGP PUBLIC KEY BLOCK-----\n  .\n  xyz\n\n"
            "Types: deb\nURIs: http://security.example/debian-security\nSuites: bookworm-security\n"
            "Components: main\n"),
        "sources.list.d/other.list.disabled-by-farm": "deb http://never.example/debian bookworm main\n",
    })
    assert mirror_for("bookworm", root) == "http://mirror.example/debian"
    assert mirror_for("bookworm-security", root) == "http://security.example/debian-security"
    assert [s.where.rsplit("/", 1)[1] for s in read_sources(root)] == ["debian.sources:8", "debian.sources:17"]


def test_one_line_sources_with_options_in_apt_order(tmp_path: Path) -> None:
    root = _apt(tmp_path, {
        "sources.list": "# deb http://commented.example/debian bookworm main\n"
                        "deb-src http://src.example/debian bookworm main\n"
                        "deb [arch=amd64 signed-by=/k.gpg] http://first.example/debian bookworm main  # why\n",
        "sources.list.d/a.list": "deb http://second.example/debian bookworm main\n",
    })
    assert mirror_for("bookworm", root) == "http://first.example/debian"
    with pytest.raises(UsageError, match="no apt source serves trixie main .*pass --mirror"):
        mirror_for("trixie", root)


def test_host_suite_from_os_release(tmp_path: Path) -> None:
    osr = tmp_path / "os-release"
    osr.write_text('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nVERSION_CODENAME=bookworm\n')
    assert host_suite(osr) == "bookworm"
    osr.write_text("ID=alpine\n")
    with pytest.raises(UsageError, match="VERSION_CODENAME"):
        host_suite(osr)
