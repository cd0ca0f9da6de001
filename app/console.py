"""Terminal output for the command line (the T20 lint bans print in library code)."""

from __future__ import annotations

import sys


def out(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def err(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()
