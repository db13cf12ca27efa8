"""Import modes against the delivery ledger: the real target process, the emulator, real ledger files."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pytest
from target_viva_insights.emulator.process import EmulatorHandle
from target_viva_insights.ledger.store import Ledger
from target_viva_insights.target import TargetVivaInsights

SCHEMA = {
    "type": "object",
    "properties": {
        "PersonId": {"type": "string"},
        "ManagerId": {"type": ["string", "null"]},
        "Organization": {"type": "string"},
        "EffectiveDate": {"type": "string", "format": "date"},
    },
}
TARGET_MAIN = "from target_viva_insights.target import TargetVivaInsights as T; T.cli()"
Row = tuple[str, str | None, str, str]


def org(people: int, months: list[str]) -> list[Row]:
    """person 0 leads; person i reports to i // 4."""
    return [
        (f"p{i}@contoso.com", None if i == 0 else f"p{i // 4}@contoso.com", f"org{i % 3}", month)
        for month in months
        for i in range(people)
    ]


def singer_input(rows: list[Row], bookmark: str = "b") -> str:
    messages: list[dict[str, Any]] = [
        {"type": "SCHEMA", "stream": "employees", "schema": SCHEMA, "key_properties": []}
    ]
    messages += [
        {
            "type": "RECORD",
            "stream": "employees",
            "record": {"PersonId": p, "ManagerId": m, "Organization": o, "EffectiveDate": d},
        }
        for p, m, o, d in rows
    ]
    messages.append({"type": "STATE", "value": {"bookmarks": {"employees": {"v": bookmark}}}})
    return "".join(json.dumps(message) + "\n" for message in messages)


class Runner:
    def __init__(self, emulator: EmulatorHandle, tmp_path: Path) -> None:
        self.emulator = emulator
        self.tmp_path = tmp_path
        self.ledger_path = str(tmp_path / "ledger")
        self.runs = 0
        # The emulator is shared by the module's tests: only the ingestions made from here on count.
        self.skip = len(emulator.state()["ingestions"])

    def __call__(self, rows: list[Row], **settings: Any) -> subprocess.CompletedProcess[str]:
        self.runs += 1
        out = self.tmp_path / f"out-{self.runs}"
        config = self.tmp_path / f"config-{self.runs}.json"
        merged = {"output_dir": str(out), "ledger_path": self.ledger_path, **settings}
        config.write_text(json.dumps(self.emulator.config(**merged)))
        return subprocess.run(
            [sys.executable, "-c", TARGET_MAIN, "--config", str(config)],
            input=singer_input(rows, bookmark=str(self.runs)),
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )

    @property
    def ledger(self) -> Ledger:
        return Ledger(self.ledger_path, self.emulator.tenant_id)

    def uploads(self) -> list[dict[str, Any]]:
        """Each ingestion the emulator took: status, IsBootstrap and the rows of its data.csv."""
        found = []
        for item in self.emulator.state()["ingestions"][self.skip :]:
            with zipfile.ZipFile(item["Upload"]) as archive:
                metadata = json.loads(archive.read("metadata.json"))
                lines = archive.read("data.csv").decode("utf-8").splitlines()[1:]
            found.append({"status": item["Status"], "bootstrap": metadata["IsBootstrap"], "rows": lines})
        return found


@pytest.fixture
def run(emulator: EmulatorHandle, tmp_path: Path) -> Runner:
    return Runner(emulator, tmp_path)


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_bootstrap_then_nothing_then_one_month_as_an_incremental(run: Runner) -> None:
    history = org(12, ["2026-01-01", "2026-02-01"])
    first = ok(run(history))
    assert "FULL import" in first.stderr
    uploads = run.uploads()
    assert [(u["bootstrap"], len(u["rows"])) for u in uploads] == [("true", 24)]
    assert run.ledger.summary()["rows"] == 24

    again = ok(run(history))
    assert len(run.uploads()) == 1  # no second upload
    assert "Nothing changed since ingestion" in again.stderr
    assert json.loads(again.stdout.splitlines()[-1])["bookmarks"]["employees"]["v"] == "2"  # STATE released

    ok(run(org(12, ["2026-01-01", "2026-02-01", "2026-03-01"])))
    third = run.uploads()[-1]
    assert third["bootstrap"] == "false"
    assert len(third["rows"]) == 12
    assert all("03/01/2026" in line for line in third["rows"])
    summary = run.ledger.summary()
    assert (summary["imports"], summary["rows"], summary["last_effective_date"]) == (2, 36, "2026-03-01")


def test_a_tap_sending_the_latest_month_only_adds_that_month(run: Runner) -> None:
    ok(run(org(12, ["2026-01-01", "2026-02-01"])))
    ok(run(org(12, ["2026-03-01"])))
    latest = run.uploads()[-1]
    assert (latest["bootstrap"], len(latest["rows"])) == ("false", 12)
    assert run.ledger.summary()["rows"] == 36


def test_a_new_hire_reporting_to_a_manager_known_only_from_the_ledger(run: Runner) -> None:
    ok(run(org(12, ["2026-01-01"])))
    hire = [("new@contoso.com", "p2@contoso.com", "org1", "2026-02-01")]
    result = run(hire)
    # The target's own checks pass: the manager is a person Viva holds, and the one row goes up.
    assert "manager-not-a-person" not in result.stderr
    latest = run.uploads()[-1]
    assert (latest["bootstrap"], len(latest["rows"])) == ("false", 1)
    assert latest["status"] == "Completed"
    assert result.returncode == 0
    assert run.ledger.summary()["people"] == 13


def test_a_loop_closed_through_people_viva_holds_is_refused(run: Runner) -> None:
    ok(run(org(12, ["2026-01-01"])))
    # Viva holds p5 -> p1; this run makes p1 report to p5: a loop no single file shows.
    result = run([("p1@contoso.com", "p5@contoso.com", "org1", "2026-02-01")])
    assert result.returncode == 3, result.stderr[-2000:]
    assert "reporting loop as of 2026-02-01: row 2 -> a person Viva holds -> row 2" in result.stderr
    assert "p5@contoso.com" not in result.stderr  # rows in the log, addresses only in the report
    assert len(run.uploads()) == 1
    assert run.ledger.summary()["imports"] == 1


def test_a_manager_unknown_everywhere_is_a_warning_not_a_refusal(run: Runner) -> None:
    # "Every manager has a row" is not a documented rule (docs/viva-rules.md): a warning, still reported.
    ok(run(org(12, ["2026-01-01"])))
    result = run([("new@contoso.com", "nobody@contoso.com", "org1", "2026-02-01")])
    assert result.returncode == 0, result.stderr[-2000:]
    assert "warning manager-not-a-person: 1" in result.stderr
    assert len(run.uploads()) == 2


def test_a_partial_file_under_full_is_refused_and_nothing_is_sent(run: Runner) -> None:
    ok(run(org(20, ["2026-01-01"])))
    result = run(org(12, ["2026-02-01"]), import_mode="full")
    assert result.returncode == 2
    assert "dropping 8 (40.0%" in result.stderr and "20 people Viva holds" in result.stderr
    assert "max_population_drop_percent" in result.stderr
    assert result.stdout == ""  # no STATE
    assert len(run.uploads()) == 1
    ok(run(org(12, ["2026-02-01"]), import_mode="full", max_population_drop_percent=100))
    assert run.ledger.summary()["people"] == 12


def test_a_full_import_of_the_last_month_only_is_refused(run: Runner) -> None:
    # The same people, so the population guard passes; the history (rows, EffectiveDates) would vanish.
    months = [f"2026-0{m}-01" for m in range(1, 10)]
    ok(run(org(30, months)))
    result = run(org(30, months[-1:]), import_mode="full")
    assert result.returncode == 2, result.stderr[-2000:]
    assert "(270 rows, 9 EffectiveDates)" in result.stderr
    assert "30 rows and 1 EffectiveDates" in result.stderr and "88.9% of the dates" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(run.uploads()) == 1
    ok(run(org(30, months[-1:]), import_mode="full", max_population_drop_percent=100))
    assert run.ledger.summary()["rows"] == 30


def test_a_failed_ingestion_leaves_the_ledger_unchanged(run: Runner, emulator: EmulatorHandle) -> None:
    ok(run(org(8, ["2026-01-01"])))
    before = run.ledger.summary()
    emulator.set_faults(reject=True)
    result = run(org(8, ["2026-01-01", "2026-02-01"]))
    assert result.returncode == 3
    after = run.ledger.summary()
    assert (after["imports"], after["rows"], after["pending"]) == (before["imports"], before["rows"], [])


def test_a_pending_ingestion_is_settled_by_the_next_run(run: Runner, emulator: EmulatorHandle) -> None:
    ok(run(org(8, ["2026-01-01"]), await_status="none"))
    (pending,) = run.ledger.summary()["pending"]
    assert run.ledger.summary()["rows"] == 0
    deadline = time.monotonic() + 60
    while emulator.state()["ingestions"][run.skip]["Status"] != "Completed":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    result = ok(run(org(8, ["2026-01-01"])))
    assert f"Pending ingestion {pending['ingestion_id']} completed" in result.stderr
    assert "Nothing changed since ingestion" in result.stderr
    summary = run.ledger.summary()
    assert (summary["rows"], summary["pending"], len(run.uploads())) == (8, [], 1)


def test_a_corrupt_ledger_is_a_clear_error(run: Runner) -> None:
    folder = Path(run.ledger_path) / run.emulator.tenant_id
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text("garbage", encoding="utf-8")
    result = run(org(4, ["2026-01-01"]))
    assert result.returncode == 2
    assert "is unreadable" in result.stderr and "Traceback" not in result.stderr
    assert run.uploads() == []


def test_a_concurrent_run_is_refused(run: Runner) -> None:
    with run.ledger.locked():
        result = run(org(4, ["2026-01-01"]))
    assert result.returncode == 8
    assert "Another run is delivering to tenant" in result.stderr
    assert run.uploads() == [] and result.stdout == ""


def test_two_tenants_are_kept_apart(run: Runner, tmp_path: Path) -> None:
    ok(run(org(6, ["2026-01-01"])))
    other = Ledger(run.ledger_path, str(uuid.uuid4()))
    assert not other.exists()
    assert sorted(p.name for p in Path(run.ledger_path).iterdir()) == [run.emulator.tenant_id]


def test_dry_run_reports_the_plan_and_leaves_the_ledger_alone(run: Runner) -> None:
    ok(run(org(6, ["2026-01-01"])))
    manifest = Path(run.ledger_path) / run.emulator.tenant_id / "manifest.json"
    before = manifest.read_bytes()
    result = ok(run(org(7, ["2026-01-01", "2026-02-01"]), dry_run=True))
    assert "Import plan: incremental import of 8 rows" in result.stderr
    assert "1 people added" in result.stderr
    assert manifest.read_bytes() == before
    assert len(run.uploads()) == 1


def test_the_ledger_on_fsspec_memory(emulator: EmulatorHandle, tmp_path: Path, capsys) -> None:
    root = f"memory://ledger-{uuid.uuid4().hex}"

    def in_process(rows: list[Row]) -> None:
        config = emulator.config(output_dir=str(tmp_path / "out"), ledger_path=root)
        TargetVivaInsights(config=config, validate_config=True).listen(io.StringIO(singer_input(rows)))

    in_process(org(6, ["2026-01-01"]))
    in_process(org(6, ["2026-01-01", "2026-02-01"]))
    capsys.readouterr()
    summary = Ledger(root, emulator.tenant_id).summary()
    assert (summary["imports"], summary["rows"]) == (2, 12)
    assert summary["ledger"].startswith("memory://")


def test_the_tenant_ends_up_holding_the_whole_history(run: Runner, emulator: EmulatorHandle) -> None:
    """Four scheduled runs of an incremental source: what Viva holds is the full history, once."""
    emulator.reset(org_data=True)
    run.skip = len(emulator.state()["ingestions"])
    months = ["2026-01-01", "2026-02-01", "2026-03-01", "2026-04-01"]
    ok(run(org(10, months[:2])))  # the first run: history so far, a full import
    ok(run(org(10, months[2:3])))  # then each run sends the latest month only
    moved = [(p, m, "elsewhere" if p == "p5@contoso.com" else o, d) for p, m, o, d in org(10, months[2:4])]
    ok(run(moved))  # a late correction of March and April's new month
    ok(run(moved))  # unchanged: no upload
    expected = {(p, m or "", o, d) for p, m, o, d in org(10, months[:2]) + moved}
    held = emulator.org_data()
    got = {
        (r["PersonId"], r.get("ManagerId") or "", r["Organization"], _iso(r["EffectiveDate"]))
        for r in held["records"]
    }
    assert (held["rows"], held["people"]) == (40, 10)
    assert got == expected
    assert [u["bootstrap"] for u in run.uploads()] == ["true", "false", "false"]
    assert run.ledger.summary()["rows"] == 40


def _iso(written: str) -> str:
    month, day, year = written.split("/")
    return f"{year}-{month}-{day}"


def test_the_quality_report_says_what_changed_since_the_last_delivery(run: Runner) -> None:
    import re

    ok(run(org(8, ["2026-01-01"])))
    changed = org(9, ["2026-01-01"])  # p8 joins
    person, manager, _, date = changed[3]
    changed[3] = (person, manager, "org-new", date)  # p3 moves
    ok(run(changed))
    (page,) = (run.tmp_path / f"out-{run.runs}").glob("viva-insights-*-quality.html")
    html = page.read_text(encoding="utf-8")
    table = re.search(r"<table id='changes'>(.*?)</table>", html)
    assert table is not None
    figures = dict(re.findall(r"<th>([^<]+)</th><td class='num'>(\d+)</td>", table.group(1)))
    assert figures == {
        "People added": "1",
        "People removed (held by Viva, absent from the file)": "0",
        "People changed": "1",
        "Rows new": "1",
        "Rows changed": "1",
        "Rows unchanged": "7",
    }
    assert "incremental import of 2 rows" in html
    assert re.search(r'id="total-rows">9<', html)  # the whole file, not only the rows sent
