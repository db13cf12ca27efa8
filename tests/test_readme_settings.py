"""The settings tables in the package READMEs are the plugins' own `--about --format=markdown` tables."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def settings_table(markdown: str) -> list[str]:
    """The rows of the first `| Setting | Required | Default | Description |` table."""
    lines = markdown.splitlines()
    start = lines.index("| Setting | Required | Default | Description |")
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append(line)
    return rows


@pytest.mark.parametrize(
    ("command", "readme"),
    [("target-viva-insights", "target-viva-insights/README.md"), ("tap-hrsource", "tap-hrsource/README.md")],
)
def test_readme_settings_table_matches_about(command: str, readme: str) -> None:
    executable = Path(sys.executable).parent / command
    about = subprocess.run(
        [str(executable), "--about", "--format=markdown"], capture_output=True, text=True, check=True
    ).stdout
    assert settings_table((ROOT / readme).read_text(encoding="utf-8")) == settings_table(about)
