"""`meltano run tap-hrsource target-viva-insights` with `destination: m365` against the emulator's
MODIS store: a first load sends everyone, a rerun of the same file sends nothing, a change sends only
the changed people, and a removed value arrives as `''` and is gone from the store.

Each run reads the whole HR file (`--full-refresh`): what is sent is decided by the target's ledger,
not by the tap's STATE.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from target_viva_insights.emulator.process import EmulatorHandle

ROOT = Path(__file__).resolve().parents[2]
HEADER = "PersonId,ManagerId,Organization,Team,EffectiveDate\n"
# A leader and 20 reports: 20 of 21 carry a manager (95.2%, above the service's 95% gate).
PEOPLE = [("lead@contoso.com", "", "Exec", "Top")] + [
    (f"p{n}@contoso.com", "lead@contoso.com", "Sales", "Red") for n in range(1, 21)
]

# A module runs on one worker (run.py), and the repository's Meltano project serves one module at a time.
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("repository_project")]


def write_people(folder: Path, people: list[tuple[str, str, str, str]]) -> None:
    lines = "".join(f"{','.join(person)},2026-01-01\n" for person in people)
    (folder / "employees.csv").write_text(HEADER + lines, encoding="utf-8")


def uploads(out: Path) -> list[Path]:
    return sorted(
        p for p in out.glob("m365-*.csv") if not p.name.endswith(("-header.csv", "-validation.csv"))
    )


def test_meltano_runs_to_microsoft_365_send_only_what_changed(
    tmp_path: Path, emulator: EmulatorHandle
) -> None:
    emulator.reset(org_data=True)
    folder = tmp_path / "hr"
    folder.mkdir()
    out = tmp_path / "out"
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    for name, value in emulator.config(poll_interval_seconds=1, output_dir=str(out)).items():
        env[f"TARGET_VIVA_INSIGHTS_{name.upper()}"] = str(value)
    env["TARGET_VIVA_INSIGHTS_DESTINATION"] = "m365"
    env["TARGET_VIVA_INSIGHTS_LEDGER_PATH"] = str(tmp_path / "ledger")
    env["TARGET_VIVA_INSIGHTS_EXCLUDE_COLUMNS"] = "[]"
    env["MELTANO_DATABASE_URI"] = f"sqlite:///{tmp_path / 'meltano.db'}"
    env["MELTANO_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    stream = {"name": "employees", "path": str(folder), "key_properties": ["PersonId", "EffectiveDate"]}
    env["TAP_HRSOURCE_STREAMS"] = json.dumps([stream])

    def run() -> str:
        command = [str(Path(sys.executable).parent / "meltano"), "--environment=dev", "run", "--full-refresh"]
        result = subprocess.run(
            [*command, "tap-hrsource", "target-viva-insights"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stderr

    write_people(folder, PEOPLE)
    run()
    (first,) = uploads(out)
    rows = list(csv.DictReader(io.StringIO(first.read_text(encoding="utf-8"))))
    assert len(rows) == 21 and "EffectiveDate" not in rows[0] and "Microsoft_PersonEmail" in rows[0]
    assert len(emulator.modis()["people"]) == 21

    log = run()
    assert "Nothing changed since the last upload to Microsoft 365: no upload." in log
    assert len(uploads(out)) == 1 and len(emulator.modis()["ingestions"]) == 1

    changed = list(PEOPLE)
    changed[1] = ("p1@contoso.com", "lead@contoso.com", "Sales", "")  # Team removed
    changed[2] = ("p2@contoso.com", "lead@contoso.com", "Engineering", "Red")
    write_people(folder, changed)
    run()
    second = uploads(out)[-1]
    rows = list(csv.DictReader(io.StringIO(second.read_text(encoding="utf-8"))))
    assert [row["Microsoft_PersonEmail"] for row in rows] == ["p1@contoso.com", "p2@contoso.com"]
    assert rows[0]["Team"] == "''"
    held = emulator.modis()["people"]
    assert "Team" not in held["p1@contoso.com"]
    assert held["p2@contoso.com"]["Microsoft_Organization"] == "Engineering"
