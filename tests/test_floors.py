"""The floors only look down: app > scheduler > handlers > storage > bot.

Runs the import-linter contract from pyproject.toml, so the README's test command checks the
floors too (CI also runs `lint-imports`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from importlinter import cli

ROOT = Path(__file__).resolve().parent.parent


def test_no_package_imports_a_floor_above_it(monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(ROOT)
    code = cli.lint_imports(no_cache=True)
    report = capsys.readouterr().out
    assert code == cli.EXIT_STATUS_SUCCESS, report
    assert "1 kept, 0 broken" in report
