"""The floors only look down: app > scheduler > handlers > storage > bot; and handlers and
jobs build no SQL (they import neither sqlalchemy nor sqlmodel).

Runs the import-linter contract from pyproject.toml, so the README's test command checks the
floors too (CI also runs `lint-imports`)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from importlinter import cli

ROOT = Path(__file__).resolve().parent.parent


def test_no_package_imports_a_floor_above_it(monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(ROOT)
    # lint_imports runs logging.config.dictConfig, which disables every existing logger: put
    # them back, or later tests that read logs would see nothing (and pass for it).
    loggers = [logging.getLogger(name) for name in list(logging.root.manager.loggerDict)]
    enabled = [lg for lg in loggers if not lg.disabled]
    root_handlers, root_level = list(logging.root.handlers), logging.root.level
    try:
        code = cli.lint_imports(no_cache=True)
    finally:
        for lg in enabled:
            lg.disabled = False
        logging.root.handlers[:] = root_handlers
        logging.root.setLevel(root_level)
    report = capsys.readouterr().out
    assert code == cli.EXIT_STATUS_SUCCESS, report
    assert "Floors only look down" in report and "Handlers and jobs build no SQL" in report
    assert "2 kept, 0 broken" in report
