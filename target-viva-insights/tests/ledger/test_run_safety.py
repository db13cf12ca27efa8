"""Runners that lose their disk, their process or the service's answer: the real target process, the
emulator, real ledger files, real signals. Nothing is wiped, sent twice or silently lost."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from target_viva_insights.emulator.process import EmulatorHandle
from target_viva_insights.import_mode import ImportMode
from target_viva_insights.ledger.digests import RowDigests
from target_viva_insights.ledger.store import IngestionRecord, Ledger, RecordStatus, now_iso, package_sha256
from test_ledger_target import TARGET_MAIN, Runner, ok, org, singer_input

CLI_MAIN = "import sys; from target_viva_insights.cli import main; sys.exit(main(sys.argv[1:]))"


@pytest.fixture
def run(emulator: EmulatorHandle, tmp_path: Path) -> Runner:
    return Runner(emulator, tmp_path)


def wait_for(condition: Any, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def statuses(run: Runner) -> list[str]:
    return [item["Status"] for item in run.emulator.state()["ingestions"]]


def started(run: Runner, rows: list[Any], **settings: Any) -> subprocess.Popen[str]:
    """The target as a process of its own, fed `rows`, so the test can signal it mid-run."""
    run.runs += 1
    config = run.tmp_path / f"config-{run.runs}.json"
    merged = {"output_dir": str(run.tmp_path / f"out-{run.runs}"), "ledger_path": run.ledger_path, **settings}
    config.write_text(json.dumps(run.emulator.config(**merged)))
    log = (run.tmp_path / f"stderr-{run.runs}.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-c", TARGET_MAIN, "--config", str(config)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=log,
        text=True,
    )
    log.close()
    assert process.stdin is not None
    process.stdin.write(singer_input(rows, bookmark=str(run.runs)))
    process.stdin.close()
    return process


def stderr_of(run: Runner) -> str:
    return (run.tmp_path / f"stderr-{run.runs}.log").read_text()


def cli(run: Runner, *argv: str) -> subprocess.CompletedProcess[str]:
    """`viva-insights ...` against the emulator (and the run's ledger, for `ledger` commands)."""
    config = run.tmp_path / "cli.json"
    config.write_text(json.dumps(run.emulator.config(output_dir=str(run.tmp_path / "cli-out"))))
    ledger = ["--ledger-path", run.ledger_path] if argv[0] == "ledger" else []
    return subprocess.run(
        [sys.executable, "-c", CLI_MAIN, *argv, "--config", str(config), *ledger],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def pending(run: Runner) -> list[tuple[RecordStatus, str]]:
    return [
        (record.status, record.ingestion_id)
        for record in Ledger(run.ledger_path, run.emulator.tenant_id).pending
    ]


# ---- a ledger lost -------------------------------------------------------------------------------


def test_a_lost_ledger_does_not_wipe_the_tenant_history(run: Runner, tmp_path: Path) -> None:
    ok(run(org(8, ["2026-01-01", "2026-02-01", "2026-03-01"])))
    (Path(run.ledger_path) / run.emulator.tenant_id).rename(tmp_path / "lost")
    result = run(org(8, ["2026-03-01"]))
    assert result.returncode == 2, result.stderr[-2000:]
    assert "no delivery ledger" in result.stderr and "lists completed ingestions" in result.stderr
    assert "ledger adopt" in result.stderr and "import_mode: full" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(run.uploads()) == 1  # nothing went
    # Replacing the history on purpose stays possible.
    ok(run(org(8, ["2026-03-01"]), import_mode="full"))
    assert [u["bootstrap"] for u in run.uploads()] == ["true", "true"]


def test_a_listing_that_keeps_failing_stops_a_run_without_a_ledger(run: Runner) -> None:
    run.emulator.set_faults(rules=[{"action": "error", "endpoint": "list", "status": 503, "count": 100}])
    result = run(org(8, ["2026-01-01"]), max_retries=1)
    assert result.returncode == 6, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert run.uploads() == []  # not a full import on a guess


# ---- the process ends after the service accepted the upload -------------------------------------


@pytest.mark.parametrize("ending", ["SIGKILL", "SIGTERM", "await timeout"])
def test_an_accepted_upload_is_not_sent_again_after_the_run_ends(run: Runner, ending: str) -> None:
    ok(run(org(8, ["2026-01-01"])))
    run.emulator.set_faults(step_seconds=4)
    month = org(8, ["2026-01-01", "2026-02-01"])
    if ending == "await timeout":
        result = run(month, await_timeout_minutes=0.02, poll_interval_seconds=0.2)
        assert result.returncode == 7, result.stderr[-2000:]
    else:
        process = started(run, month)
        wait_for(lambda: len(statuses(run)) == 2, "the second upload")
        wait_for(
            lambda: [status for status, _ in pending(run)] == [RecordStatus.PENDING], "its id in the ledger"
        )
        process.send_signal(getattr(signal, ending))
        process.wait(timeout=60)
        assert process.returncode != 0
    ((status, ingestion_id),) = pending(run)
    assert status is RecordStatus.PENDING and ingestion_id == run.emulator.state()["ingestions"][-1]["Id"]
    run.emulator.set_faults(step_seconds=0.3)
    wait_for(lambda: statuses(run)[-1] == "Completed", "the ingestion to complete")
    result = ok(run(month))
    assert f"Pending ingestion {ingestion_id} completed: recorded in the ledger" in result.stderr
    assert "Nothing changed since ingestion" in result.stderr
    assert len(run.uploads()) == 2  # one ingestion per intent
    assert run.ledger.summary()["rows"] == 16


def test_a_run_killed_before_the_answer_is_matched_with_the_listing(run: Runner) -> None:
    ok(run(org(8, ["2026-01-01"])))
    run.emulator.set_faults(rules=[{"action": "slow_after_accept", "endpoint": "upload", "delay": 30}])
    month = org(8, ["2026-01-01", "2026-02-01"])
    process = started(run, month)
    wait_for(lambda: len(statuses(run)) == 2, "the upload to arrive")
    assert pending(run) == [(RecordStatus.SENDING, "")]  # held before the POST
    process.kill()
    process.wait(timeout=30)
    wait_for(lambda: statuses(run)[-1] == "Completed", "the ingestion to complete")
    result = ok(run(month))
    arrived = run.emulator.state()["ingestions"][-1]["Id"]
    assert f"the service's listing shows it arrived as ingestion {arrived}" in result.stderr
    assert f"Pending ingestion {arrived} completed" in result.stderr
    assert len(run.uploads()) == 2 and run.ledger.summary()["rows"] == 16


def test_an_upload_that_never_arrived_goes_again(run: Runner, tmp_path: Path) -> None:
    ok(run(org(8, ["2026-01-01"])))
    # What a run killed after writing its upload into the ledger, before the POST left, leaves behind.
    ledger = run.ledger
    package = tmp_path / "never-sent.zip"
    package.write_bytes(b"never sent")
    with ledger.locked():
        held = ledger.begin_upload(
            IngestionRecord("", now_iso(), ImportMode.INCREMENTAL, 8, 8, package_sha256(package)),
            RowDigests.empty(),
            package,
        )
    result = ok(run(org(8, ["2026-01-01", "2026-02-01"])))
    assert f"recorded in the ledger as {held.upload}" in result.stderr
    assert "shows no ingestion since, so it never arrived: its rows go again" in result.stderr
    assert pending(run) == [] and run.ledger.summary()["rows"] == 16
    assert len(run.uploads()) == 2


def test_an_upload_the_service_refused_before_taking_it_is_withdrawn(run: Runner) -> None:
    ok(run(org(8, ["2026-01-01"])))
    run.emulator.set_faults(rules=[{"action": "error", "endpoint": "upload", "status": 503, "count": 10}])
    result = run(org(8, ["2026-01-01", "2026-02-01"]), max_retries=1)
    assert result.returncode == 6, result.stderr[-2000:]
    assert pending(run) == [] and len(run.uploads()) == 1  # proven not taken: nothing left pending
    assert not list((Path(run.ledger_path) / run.emulator.tenant_id).glob("pending-*"))
    run.emulator.set_faults(rules=[])
    ok(run(org(8, ["2026-01-01", "2026-02-01"])))
    assert run.ledger.summary()["rows"] == 16


# ---- a failure the run that sent it did not see ---------------------------------------------------


def _failed_after_await_none(run: Runner) -> str:
    ok(run(org(8, ["2026-01-01"])))
    run.emulator.set_faults(reject=True)
    ok(run(org(8, ["2026-02-01"]), await_status="none"))
    failed = run.emulator.state()["ingestions"][-1]["Id"]
    wait_for(lambda: statuses(run)[-1] == "ValidationFailed", "the ingestion to fail")
    run.emulator.set_faults(reject=False)
    return failed


def test_a_failure_after_await_none_is_refused_until_resent(run: Runner) -> None:
    failed = _failed_after_await_none(run)
    march = org(8, ["2026-03-01"])  # the tap has moved its bookmark past February
    result = run(march)
    assert result.returncode == 3, result.stderr[-2000:]
    assert f"viva-insights ledger resend {failed}" in result.stderr
    assert f"viva-insights ledger forget {failed}" in result.stderr and "Traceback" not in result.stderr
    assert list((run.tmp_path / f"out-{run.runs}").glob(f"errors-{failed}*"))
    again = run(march)
    assert again.returncode == 2 and f"ledger resend {failed}" in again.stderr  # every run, until resolved
    assert len(run.uploads()) == 2

    resent = cli(run, "ledger", "resend", failed)
    assert resent.returncode == 0, resent.stderr[-2000:]
    assert json.loads(resent.stdout)["Status"] == "Completed"
    uploads = run.uploads()
    assert uploads[-1]["rows"] == uploads[1]["rows"]  # the same package, sent again
    assert run.ledger.summary()["rows"] == 16 and pending(run) == []
    result = ok(run(march))
    assert run.ledger.summary()["rows"] == 24


def test_a_failed_upload_forgotten_goes_again_with_the_tap(run: Runner) -> None:
    failed = _failed_after_await_none(run)
    forgotten = cli(run, "ledger", "forget", failed)
    assert forgotten.returncode == 0, forgotten.stderr[-2000:]
    assert "the next run whose file holds them sends them" in forgotten.stderr
    result = ok(run(org(8, ["2026-01-01", "2026-02-01"])))  # the tap sent from the start again
    assert "incremental import of 8 rows" in result.stderr
    assert run.ledger.summary()["rows"] == 16


def test_a_pending_ingestion_the_service_does_not_know_is_a_clear_refusal(run: Runner) -> None:
    ok(run(org(8, ["2026-01-01"])))
    ok(run(org(8, ["2026-02-01"]), await_status="none"))
    ((_, ingestion_id),) = pending(run)
    run.emulator.reset(ingestions=True)  # the service's history purged
    result = run(org(8, ["2026-03-01"]))
    assert result.returncode == 2, result.stderr[-2000:]
    assert "no such ingestion (HTTP 404)" in result.stderr
    assert f"viva-insights ledger forget {ingestion_id}" in result.stderr and "Traceback" not in result.stderr
    assert cli(run, "ledger", "forget", ingestion_id).returncode == 0
    ok(run(org(8, ["2026-02-01", "2026-03-01"])))
    assert run.ledger.summary()["rows"] == 24


# ---- the tenant changed by others, rows deleted at the source --------------------------------------


def test_an_ingestion_made_outside_the_target_is_named_and_auto_goes_full(run: Runner) -> None:
    history = org(8, ["2026-01-01", "2026-02-01"])
    ok(run(history))
    (package,) = (run.tmp_path / "out-1").glob("viva-insights-*.zip")
    uploaded = cli(run, "upload", str(package))
    assert uploaded.returncode == 0, uploaded.stderr[-2000:]
    outside = json.loads(uploaded.stdout)["Id"]
    partial = ok(run(org(8, ["2026-02-01"])))  # the last month: not all the tenant holds
    assert f"Ingestion {outside}" in partial.stderr and "was not made by this target" in partial.stderr
    assert "A full import is due" in partial.stderr and "goes as an incremental import" in partial.stderr
    assert len(run.uploads()) == 2  # nothing new: no upload, and nothing replaced
    result = ok(run(history))
    assert f"Ingestion {outside}" in result.stderr
    assert "full import of 16 rows (import_mode auto: ingestion" in result.stderr
    assert [u["bootstrap"] for u in run.uploads()] == ["true", "true", "true"]
    quiet = ok(run(history))
    assert "was not made by this target" not in quiet.stderr and "Nothing changed since" in quiet.stderr


def test_rows_deleted_at_the_source_are_a_warning(run: Runner) -> None:
    history = org(8, ["2026-01-01", "2026-02-01", "2026-03-01"])
    ok(run(history))
    mistaken = ("p3@contoso.com", "p0@contoso.com", "org0", "2026-02-01")
    assert mistaken in history
    result = ok(run([row for row in history if row != mistaken]))
    assert "1 rows the tenant holds (for people in this file, within its EffectiveDates)" in result.stderr
    assert "import_mode: full" in result.stderr
    one_month = ok(run(org(8, ["2026-04-01"])))
    assert "rows the tenant holds" not in one_month.stderr


# ---- the ledger's storage full ----------------------------------------------------------------------


def test_a_full_disk_after_a_completed_upload_is_recorded_by_the_next_run(
    run: Runner, tmp_path: Path
) -> None:
    from test_ledger_storage import fill, small_disk

    with small_disk(tmp_path / "disk", "2m") as disk:
        run.ledger_path = str(disk / "ledger")
        ok(run(org(40, ["2026-01-01"])))
        run.emulator.set_faults(step_seconds=2)
        process = started(run, org(40, ["2026-01-01", "2026-02-01"]))
        wait_for(lambda: [status for status, _ in pending(run)] == [RecordStatus.PENDING], "the acceptance")
        fill(disk)
        process.wait(timeout=120)
        log = stderr_of(run)
        assert process.returncode == 2, log[-2000:]
        assert "completed; the ledger still holds it as pending, and the next run records it" in log
        assert "Traceback" not in log
        assert statuses(run)[-1] == "Completed"
        ((status, ingestion_id),) = pending(run)
        assert status is RecordStatus.PENDING
        (disk / "filler").unlink()
        result = ok(run(org(40, ["2026-01-01", "2026-02-01"])))
        assert f"Pending ingestion {ingestion_id} completed: recorded" in result.stderr
        assert len(run.uploads()) == 2 and run.ledger.summary()["rows"] == 80
        leftovers = [path.name for path in (disk / "ledger" / run.emulator.tenant_id).iterdir()]
        assert not [name for name in leftovers if name.endswith(".partial") or name.startswith("pending-")]
