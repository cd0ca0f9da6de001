"""The floors only look down: app > scheduler > handlers > storage > bot.

Runs the import-linter contract from pyproject.toml, so the README's test command checks the
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
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 kept, 0 broken" in done.stdout
