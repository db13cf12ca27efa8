"""The ledger's safety cases on a local folder and on Azure Blob Storage (az://, adlfs, Azurite): the
same battery on both. The real target process against the emulator, real ledger files and blobs.

On blob storage the lock is a conditional create (If-None-Match: *) and a stale lock is replaced
conditionally on its ETag; every ledger file goes up in one put, so a run killed mid-write leaves the
ledger as it was.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import fsspec
import pytest
from azurite_blob import AzuriteBlob
from target_viva_insights.emulator.process import EmulatorHandle
from target_viva_insights.errors import LedgerLocked
from target_viva_insights.ledger.store import Ledger
from test_ledger import TENANT
from test_ledger_storage import complete
from test_ledger_target import TARGET_MAIN, Runner, ok, org, singer_input

PLACES = ["local", "az"]


@dataclasses.dataclass
class Place:
    """Where a ledger_path points, read with fsspec whatever it is."""

    kind: str
    root: str
    azurite: AzuriteBlob | None = None

    @property
    def fs(self) -> fsspec.AbstractFileSystem:
        return fsspec.core.url_to_fs(self.root, use_listings_cache=False)[0]

    def folder(self, tenant: str) -> str:
        return f"{fsspec.core.url_to_fs(self.root)[1].rstrip('/')}/{tenant}"

    def files(self, tenant: str) -> dict[str, bytes]:
        """Every object under the tenant's folder, by name, with its bytes."""
        try:
            names = sorted(self.fs.ls(self.folder(tenant), detail=False))
        except FileNotFoundError:
            return {}
        return {str(name).rsplit("/", 1)[-1]: self.fs.cat_file(name) for name in names}

    def put(self, tenant: str, name: str, content: bytes) -> None:
        self.fs.makedirs(self.folder(tenant), exist_ok=True)
        self.fs.pipe_file(f"{self.folder(tenant)}/{name}", content)

    def remove(self, tenant: str, name: str) -> None:
        self.fs.rm(f"{self.folder(tenant)}/{name}")


@pytest.fixture(params=PLACES)
def place(request: pytest.FixtureRequest, tmp_path: Path) -> Place:
    if request.param == "local":
        return Place("local", str(tmp_path / "ledger"))
    root = request.getfixturevalue("azure_ledger_path")
    return Place("az", root, request.getfixturevalue("azurite"))


@pytest.fixture
def run(emulator: EmulatorHandle, tmp_path: Path, place: Place) -> Runner:
    runner = Runner(emulator, tmp_path)
    runner.ledger_path = place.root
    return runner


def dead_pid() -> int:
    """The pid of a process of this host that has ended."""
    process = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    return int(process.stdout)


def wait_for(condition: Callable[[], bool], seconds: float, what: str, interval: float = 0.02) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(interval)


# ---- a full run, then an incremental one ---------------------------------------------------------


def test_a_full_run_then_an_incremental_run(run: Runner, place: Place) -> None:
    history = org(12, ["2026-01-01", "2026-02-01"])
    first = ok(run(history))
    assert "FULL import" in first.stderr
    tenant = run.emulator.tenant_id
    names = set(place.files(tenant))
    assert {"manifest.json", "key"} <= names and "lock" not in names
    assert not [name for name in names if name.endswith(".partial")]
    assert ok(run(history)) and len(run.uploads()) == 1  # nothing changed: no second upload
    ok(run(org(12, ["2026-01-01", "2026-02-01", "2026-03-01"])))
    assert [(u["bootstrap"], len(u["rows"])) for u in run.uploads()] == [("true", 24), ("false", 12)]
    summary = run.ledger.summary()
    assert (summary["imports"], summary["rows"], summary["last_effective_date"]) == (2, 36, "2026-03-01")
    assert summary["ledger"].startswith("az://" if place.kind == "az" else "/")
    assert "Request URL" not in first.stderr  # the Azure SDK's request log stays out of the run's
    after = place.files(tenant)
    # One generation of rows and people: the old one was removed when the manifest moved on.
    assert len([name for name in after if name.startswith("rows-")]) == 1
    assert "lock" not in after and not [name for name in after if name.endswith(".partial")]


# ---- kill -9 in the middle of a ledger write -----------------------------------------------------

WRITER = textwrap.dedent(
    """
    import sys, uuid
    import numpy as np
    from target_viva_insights.import_mode import ImportMode
    from target_viva_insights.ledger.digests import RowDigests
    from target_viva_insights.ledger.store import IngestionRecord, Ledger, now_iso

    root, tenant, rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
    random = np.random.default_rng(7)
    u64 = lambda: random.integers(0, 2**63, rows, dtype=np.uint64)
    digests = RowDigests(u64(), u64(), u64(), u64(), random.integers(19000, 21000, rows, dtype=np.int32))
    ledger = Ledger(root, tenant)
    record = IngestionRecord(str(uuid.uuid4()), now_iso(), ImportMode.FULL, rows, rows, "0" * 64)
    with ledger.locked():
        print("writing", flush=True)
        ledger.record_completed(record, digests)
        print("written", flush=True)
    """
)
# Rows of the killed write: about 70 MB of digests, a write that takes a while on any machine.
KILLED_ROWS = 2_000_000


def test_kill_9_in_the_middle_of_a_write_leaves_the_ledger_as_it_was(place: Place) -> None:
    complete(Ledger(place.root, TENANT), 20)
    before = place.files(TENANT)
    summary = Ledger(place.root, TENANT).summary()
    stored = place.azurite.stored_bytes() if place.azurite else 0

    def writing() -> bool:
        """Local: the new rows file's partial copy is being written. Blob storage: the upload is
        streaming in (Azurite's data grows), not yet committed."""
        if place.azurite is not None:
            return place.azurite.stored_bytes() > stored + (4 << 20)
        folder = Path(place.folder(TENANT))
        return any(path.stat().st_size > 0 for path in folder.glob(".rows-*.partial"))

    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, place.root, TENANT, str(KILLED_ROWS)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline() == "writing\n"
        wait_for(writing, 120, "the ledger write to start", interval=0.002)
        os.kill(writer.pid, signal.SIGKILL)
        output, errors = writer.communicate(timeout=30)
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.communicate()
    assert writer.returncode == -signal.SIGKILL and "written" not in output, errors[-2000:]

    after = place.files(TENANT)
    assert {name: after.get(name) for name in before} == before  # every file as it was
    left = set(after) - set(before)
    # The killed run's lock stays (stale: its process is gone); on a disk, its partial file too.
    assert "lock" in left
    assert all(name.endswith(".partial") for name in left - {"lock"}), left
    if place.kind == "az":
        assert left == {"lock"}  # an uncommitted upload is invisible
    assert Ledger(place.root, TENANT).summary() == summary
    # The next run takes the stale lock over and records as usual.
    complete(Ledger(place.root, TENANT), 30)
    assert Ledger(place.root, TENANT).summary()["imports"] == 2
    assert "lock" not in place.files(TENANT)


# ---- two runs at once ---------------------------------------------------------------------------


def test_a_second_run_while_the_first_delivers_is_refused_naming_the_first(
    run: Runner, emulator: EmulatorHandle, place: Place, tmp_path: Path
) -> None:
    tenant = emulator.tenant_id
    emulator.set_faults(rules=[{"action": "slow", "endpoint": "upload", "delay": 8}])
    config = tmp_path / "first.json"
    settings = {"output_dir": str(tmp_path / "first"), "ledger_path": place.root}
    config.write_text(json.dumps(emulator.config(**settings)))
    records = tmp_path / "first.singer"
    records.write_text(singer_input(org(6, ["2026-01-01"])), encoding="utf-8")
    with records.open("rb") as stdin:
        first = subprocess.Popen(
            [sys.executable, "-c", TARGET_MAIN, "--config", str(config)],
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    try:
        wait_for(lambda: "lock" in place.files(tenant), 120, "the first run's lock")
        second = run(org(6, ["2026-01-01", "2026-02-01"]))
        _, first_err = first.communicate(timeout=180)
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate()
    assert second.returncode == 8, second.stderr[-2000:]
    assert f"Another run is delivering to tenant {tenant} (pid {first.pid} on {socket.gethostname()}" in (
        second.stderr
    )
    assert "Traceback" not in second.stderr and second.stdout == ""
    assert first.returncode == 0, first_err[-3000:]
    assert [u["bootstrap"] for u in run.uploads()] == ["true"]  # only the first run's upload
    assert "lock" not in place.files(tenant)


def test_of_concurrent_lock_creations_exactly_one_wins(place: Place) -> None:
    ledger = Ledger(place.root, TENANT)
    ledger._ensure_folder()
    path = ledger._path("lock")
    results: list[bool] = []
    start = threading.Barrier(12)

    def create() -> None:
        start.wait()
        results.append(Ledger(place.root, TENANT)._create_exclusively(path, b"{}"))

    threads = [threading.Thread(target=create) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 11 + [True]


def test_of_runs_taking_over_one_stale_lock_exactly_one_wins(azure_ledger_path: str) -> None:
    """Blob storage replaces a stale lock on its ETag. (A local stale lock is removed, then created
    again: a run that read it before another's takeover could remove the new lock.)"""
    place = Place("az", azure_ledger_path)
    stale = {"pid": dead_pid(), "host": socket.gethostname(), "started": "2026-01-01T00:00:00+00:00"}
    place.put(TENANT, "lock", json.dumps(stale).encode())
    outcomes: list[str] = []
    start = threading.Barrier(8)
    release = threading.Event()

    def take() -> None:
        ledger = Ledger(place.root, TENANT)
        start.wait()
        try:
            with ledger.locked():
                outcomes.append("locked")
                release.wait(30)
        except LedgerLocked as error:
            outcomes.append(str(error))

    threads = [threading.Thread(target=take) for _ in range(8)]
    for thread in threads:
        thread.start()
    wait_for(lambda: len(outcomes) == 8, 60, "every taker's outcome")
    release.set()
    for thread in threads:
        thread.join()
    assert outcomes.count("locked") == 1, outcomes
    refusals = [outcome for outcome in outcomes if outcome != "locked"]
    assert all(f"pid {os.getpid()} on" in refusal for refusal in refusals)  # the winner is named


# ---- a lost manifest ----------------------------------------------------------------------------


def test_a_lost_manifest_is_an_unreadable_ledger_left_as_found(run: Runner, place: Place) -> None:
    ok(run(org(6, ["2026-01-01"])))
    tenant = run.emulator.tenant_id
    place.remove(tenant, "manifest.json")
    before = place.files(tenant)
    assert [name for name in before if name.startswith("rows-")]
    result = run(org(6, ["2026-01-01", "2026-02-01"]))
    assert result.returncode == 2, result.stderr[-2000:]
    assert "manifest.json is missing" in result.stderr and "Traceback" not in result.stderr
    assert len(run.uploads()) == 1  # no second upload, no wipe
    assert place.files(tenant) == before


# ---- a stale lock -------------------------------------------------------------------------------


def test_a_stale_lock_of_this_host_is_taken_over(run: Runner, place: Place) -> None:
    tenant = run.emulator.tenant_id
    stale = {"pid": dead_pid(), "host": socket.gethostname(), "started": "2026-01-01T00:00:00+00:00"}
    place.put(tenant, "lock", json.dumps(stale).encode())
    ok(run(org(6, ["2026-01-01"])))
    assert [u["bootstrap"] for u in run.uploads()] == ["true"]
    assert "lock" not in place.files(tenant)


def test_a_lock_of_another_host_is_not_taken_for_stale(run: Runner, place: Place) -> None:
    tenant = run.emulator.tenant_id
    other = {"pid": dead_pid(), "host": "runner-elsewhere", "started": "2026-01-01T00:00:00+00:00"}
    place.put(tenant, "lock", json.dumps(other).encode())
    result = run(org(6, ["2026-01-01"]))
    assert result.returncode == 8, result.stderr[-2000:]
    assert f"(pid {other['pid']} on runner-elsewhere, started 2026-01-01" in result.stderr
    assert f"{tenant}/lock" in result.stderr  # says what to remove if that run is gone
    assert run.uploads() == []
    assert json.loads(place.files(tenant)["lock"]) == other


# ---- the storage refuses (Azure) -----------------------------------------------------------------


@pytest.fixture
def az_run(emulator: EmulatorHandle, tmp_path: Path, azure_ledger_path: str) -> Runner:
    runner = Runner(emulator, tmp_path)
    runner.ledger_path = azure_ledger_path
    return runner


def test_a_read_only_identity_stops_the_run_at_the_lock(
    az_run: Runner, azurite: AzuriteBlob, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok(az_run(org(6, ["2026-01-01"])))
    place = Place("az", az_run.ledger_path)
    before = place.files(az_run.emulator.tenant_id)
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite.read_only_connection_string())
    result = az_run(org(6, ["2026-01-01", "2026-02-01"]))
    assert result.returncode == 2, result.stderr[-2000:]
    assert "could not be written" in result.stderr and "/lock: " in result.stderr
    assert "(HTTP 403 AuthorizationPermissionMismatch)" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert len(az_run.uploads()) == 1
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite.connection_string)
    assert place.files(az_run.emulator.tenant_id) == before


def test_a_missing_container_stops_the_run_at_the_lock(az_run: Runner) -> None:
    az_run.ledger_path = f"az://no-such-container-{uuid.uuid4().hex[:8]}/viva"
    result = az_run(org(6, ["2026-01-01"]))
    assert result.returncode == 2, result.stderr[-2000:]
    assert "(HTTP 404 ContainerNotFound)" in result.stderr and "Traceback" not in result.stderr
    assert az_run.uploads() == []


def test_a_wrong_account_key_is_a_clear_error(
    az_run: Runner, azurite: AzuriteBlob, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = base64.b64encode(b"not the account key" * 3).decode()
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite.connection_string_with(wrong))
    result = az_run(org(6, ["2026-01-01"]))
    assert result.returncode == 2, result.stderr[-3000:]
    assert "cannot be reached" in result.stderr and "(HTTP 403 AuthorizationFailure)" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert az_run.uploads() == []
