"""ruff (configured in pyproject.toml) is clean on helpers, tests and notebooks."""

import subprocess
import sys

from tests.harness import REPO


def test_ruff_is_clean():
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "."], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
