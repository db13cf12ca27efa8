"""The code base stays lint-clean (ruff) and type-checks (mypy), as the README promises."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOOLS = Path(sys.executable).parent


def test_ruff_finds_nothing() -> None:
    result = subprocess.run(
        [str(TOOLS / "ruff"), "check", "--no-cache", str(ROOT)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout[-4000:]


def test_mypy_finds_nothing() -> None:
    packages = [
        str(ROOT / "target-viva-insights" / "target_viva_insights"),
        str(ROOT / "tap-hrsource" / "tap_hrsource"),
    ]
    result = subprocess.run(
        [str(TOOLS / "mypy"), "--ignore-missing-imports", "--no-incremental", *packages],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:]
