"""Three scheduled `meltano run`s of tap-hrsource's incremental file mode: Viva holds the whole history.

A new monthly file lands in the HR folder before each run; the tap sends only the files changed since
its STATE, and the target, with `import_mode: auto`, makes a full import of the first run and an
incremental import of each later month. The emulator's org data must equal the full history.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from target_viva_insights.emulator.process import EmulatorHandle

ROOT = Path(__file__).resolve().parents[2]
HEADER = "PersonId,ManagerId,Organization,EffectiveDate\n"

# A module runs on one worker (run.py), and the repository's Meltano project serves one module at a time.
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("repository_project")]


def month_rows(month: int, people: int = 9) -> list[tuple[str, str, str, str]]:
    return [
        (
            f"p{i}@contoso.com",
            "" if i == 0 else f"p{i // 3}@contoso.com",
            f"org{(i + (month > 2 and i == 4)) % 3}",  # p4 moves in month 3
            f"2026-{month:02d}-01",
        )
        for i in range(people)
    ]


def write_month(folder: Path, month: int) -> list[tuple[str, str, str, str]]:
    rows = month_rows(month)
    path = folder / f"employees-2026-{month:02d}.csv"
    path.write_text(HEADER + "".join(",".join(row) + "\n" for row in rows), encoding="utf-8")
    stamp = time.time() + month  # a later file is newer, whatever the clock's resolution
    os.utime(path, (stamp, stamp))
    return rows


def test_three_scheduled_runs_leave_viva_with_the_whole_history(
    tmp_path: Path, emulator: EmulatorHandle
) -> None:
    folder = tmp_path / "hr"
    folder.mkdir()
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    for name, value in emulator.config(
        poll_interval_seconds=1, await_timeout_minutes=5, output_dir=str(tmp_path / "out")
    ).items():
        env[f"TARGET_VIVA_INSIGHTS_{name.upper()}"] = str(value)
    env["TARGET_VIVA_INSIGHTS_LEDGER_PATH"] = str(tmp_path / "ledger")
    env["MELTANO_DATABASE_URI"] = f"sqlite:///{tmp_path / 'meltano.db'}"
    env["MELTANO_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    stream = {"name": "employees", "path": str(folder), "key_properties": ["PersonId", "EffectiveDate"]}
    env["TAP_HRSOURCE_STREAMS"] = json.dumps([stream])
    env["TARGET_VIVA_INSIGHTS_EXCLUDE_COLUMNS"] = "[]"  # the project's sample has an EmployeeNumber

    def scheduled_run() -> None:
        result = subprocess.run(
            [
                str(Path(sys.executable).parent / "meltano"),
                "--environment=dev",
                "run",
                "tap-hrsource",
                "target-viva-insights",
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        assert result.returncode == 0, result.stderr[-3000:]

    history = write_month(folder, 1) + write_month(folder, 2)
    scheduled_run()
    history += write_month(folder, 3)
    scheduled_run()
    history += write_month(folder, 4)
    scheduled_run()

    held = emulator.org_data()
    got = {
        (r["PersonId"], r.get("ManagerId") or "", r["Organization"], r["EffectiveDate"])
        for r in held["records"]
    }
    expected = {(p, m, o, f"{d[5:7]}/{d[8:10]}/{d[:4]}") for p, m, o, d in history}
    assert (held["rows"], held["people"]) == (36, 9)
    assert got == expected
