"""The floors only look down: app > scheduler > handlers > storage > bot; and handlers and
jobs build no SQL (they import neither sqlalchemy nor sqlmodel).

Runs the import-linter contracts from pyproject.toml, so the README's test command checks the
floors too (CI also runs `lint-imports`). It runs in its own process: import-linter configures
logging for the whole interpreter, which must not leak into the other tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def test_no_package_imports_a_floor_above_it() -> None:
    done = subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    report = done.stdout + done.stderr
    assert done.returncode == 0, report
    assert "Floors only look down" in report and "Handlers and jobs build no SQL" in report
    assert "2 kept, 0 broken" in report
