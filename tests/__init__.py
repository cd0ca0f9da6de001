"""The test suite (tests/README.md).

Compiled bytecode is a cache, and the suite imports the same modules in every process it runs
(pytest itself, each `yiqingtong serve` or CLI a test spawns). Where the environment sets
PYTHONDONTWRITEBYTECODE (some containers do), every run compiled all of them again and pytest
rewrote every test module's asserts again: about 3 s per process. This package is imported
before conftest.py and the test modules, so they, our modules and the subprocesses' are cached
(`__pycache__/` is gitignored).
"""

import os
import sys

sys.dont_write_bytecode = False
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
