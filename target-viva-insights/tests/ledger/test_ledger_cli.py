"""`viva-insights ledger`, `ledger diff` and `ledger adopt` on real package files."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from conftest import METADATA
from target_viva_insights.cli import main

TENANT = "00000000-0000-0000-0000-000000000001"


def package(path: Path, people: int, months: list[int], org_of_p2: str = "org2") -> Path:
    lines = ["PersonId,ManagerId,EffectiveDate,Organization"]
    for month in months:
        for person in range(people):
            manager = "" if person == 0 else f"p{person // 3}@contoso.com"
            org = org_of_p2 if person == 2 else f"org{person % 4}"
            lines.append(f"p{person}@contoso.com,{manager},{month:02d}/01/2026,{org}")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("data.csv", "\n".join(lines) + "\n")
        archive.writestr("metadata.json", json.dumps(METADATA))
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def test_adopt_show_and_diff(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flags = ["--tenant-id", TENANT, "--ledger-path", str(tmp_path / "ledger")]
    code, out = run(capsys, "ledger", *flags)
    assert code == 0 and "No ledger for tenant" in out

    code, out = run(capsys, "ledger", "adopt", str(package(tmp_path / "held.zip", 9, [1, 2])), *flags)
    assert code == 0
    summary = json.loads(out)
    assert (summary["imports"], summary["people"], summary["rows"]) == (1, 9, 18)
    assert summary["last_effective_date"] == "2026-02-01"

    code, out = run(capsys, "ledger", "show", *flags)
    assert json.loads(out)["rows"] == 18

    # Month 3 with two new hires and p2 moved; p0..p10 of month 1 and 2 are unchanged.
    changed = package(tmp_path / "next.zip", 11, [1, 2, 3], org_of_p2="elsewhere")
    code, out = run(capsys, "ledger", "diff", str(changed), *flags)
    assert code == 0
    diff = json.loads(out)
    assert diff["people_added"] == 2
    assert sorted(diff["people_added_list"]) == ["p10@contoso.com", "p9@contoso.com"]
    assert diff["rows_new"] == 2 * 2 + 11
    assert diff["rows_changed"] == 2
    assert {row["EffectiveDate"] for row in diff["rows_changed_list"]} == {"01/01/2026", "02/01/2026"}
    assert diff["people_absent"] == 0

    partial = package(tmp_path / "partial.zip", 5, [3])
    diff = json.loads(run(capsys, "ledger", "diff", str(partial), *flags)[1])
    assert (diff["people_in_ledger"], diff["people_absent"]) == (9, 4)


def test_adopt_does_not_replace_a_ledger_silently(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flags = ["--tenant-id", TENANT, "--ledger-path", str(tmp_path / "ledger")]
    held = package(tmp_path / "held.zip", 4, [1])
    assert run(capsys, "ledger", "adopt", str(held), *flags)[0] == 0
    code, _ = run(capsys, "ledger", "adopt", str(package(tmp_path / "other.zip", 2, [1])), *flags)
    assert code == 2
    assert json.loads(run(capsys, "ledger", *flags)[1])["people"] == 4
    code, out = run(capsys, "ledger", "adopt", str(tmp_path / "other.zip"), "--replace", *flags)
    assert code == 0 and json.loads(out)["people"] == 2


def test_a_corrupt_ledger_exits_2_with_a_message(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = tmp_path / "ledger"
    (root / TENANT).mkdir(parents=True)
    (root / TENANT / "manifest.json").write_text("[]", encoding="utf-8")
    code = main(["ledger", "--tenant-id", TENANT, "--ledger-path", str(root)])
    assert code == 2
    assert "is unreadable" in caplog.text


def test_the_ledger_needs_a_tenant(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert main(["ledger", "--ledger-path", str(tmp_path)]) == 2
    assert "set tenant_id" in caplog.text
