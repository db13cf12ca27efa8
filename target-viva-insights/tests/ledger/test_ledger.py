"""The delivery ledger on its own: digests, comparison, records, pending ingestions, lock, errors."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from target_viva_insights.ledger.digests import Digester, RowDigests, digest_batch
from target_viva_insights.ledger.store import (
    ImportMode,
    IngestionRecord,
    Ledger,
    LedgerError,
    LedgerLocked,
    RecordStatus,
    default_ledger_path,
    now_iso,
)
from target_viva_insights.rules import DateOrder

TENANT = "00000000-0000-0000-0000-000000000001"
OTHER_TENANT = "00000000-0000-0000-0000-000000000099"


def history(people: int, months: list[int], *, change: dict[str, str] | None = None) -> pa.Table:
    """An org history: person 0 leads, everyone else reports to the person `i // 5`."""
    rows: dict[str, list[str]] = {"PersonId": [], "ManagerId": [], "EffectiveDate": [], "Organization": []}
    for month in months:
        for person in range(people):
            rows["PersonId"].append(f"p{person}@contoso.com")
            rows["ManagerId"].append("" if person == 0 else f"p{person // 5}@contoso.com")
            rows["EffectiveDate"].append(f"{month:02d}/01/2026")
            rows["Organization"].append((change or {}).get(f"p{person}", f"org{person % 7}"))
    return pa.table(rows)


def digests(ledger: Ledger, table: pa.Table) -> RowDigests:
    return digest_batch(ledger.digester, table, DateOrder.MDY)


def complete(ledger: Ledger, table: pa.Table, mode: ImportMode, ingestion_id: str | None = None) -> None:
    file = digests(ledger, table)
    record = IngestionRecord(
        ingestion_id or str(uuid.uuid4()), now_iso(), mode, len(file), len(np.unique(file.person)), "0" * 64
    )
    with ledger.locked():
        ledger.record_completed(record, file)


@pytest.fixture
def root(tmp_path: Path) -> str:
    return str(tmp_path / "ledger")


def test_a_bootstrap_is_recorded_and_an_identical_file_changes_nothing(root: str) -> None:
    ledger = Ledger(root, TENANT)
    assert not ledger.exists()
    table = history(50, [1, 2, 3])
    complete(ledger, table, ImportMode.FULL)

    again = Ledger(root, TENANT)
    summary = again.summary()
    assert (summary["imports"], summary["people"], summary["rows"]) == (1, 50, 150)
    assert summary["last_effective_date"] == "2026-03-01"
    comparison = again.compare(digests(again, table))
    assert comparison.rows_to_send == 0
    assert comparison.summary()["people_absent"] == 0


def test_a_month_added_sends_that_month_only_and_a_change_is_seen(root: str) -> None:
    ledger = Ledger(root, TENANT)
    complete(ledger, history(50, [1, 2, 3]), ImportMode.FULL)
    grown = history(50, [1, 2, 3, 4])
    comparison = ledger.compare(digests(ledger, grown))
    assert comparison.rows_to_send == 50
    sent_dates = set(grown.column("EffectiveDate").filter(pa.array(comparison.to_send)).to_pylist())
    assert sent_dates == {"04/01/2026"}

    changed = history(50, [1, 2, 3], change={"p7": "elsewhere"})
    comparison = ledger.compare(digests(ledger, changed))
    assert comparison.summary()["rows_changed"] == 3
    assert comparison.summary()["rows_new"] == 0


def test_an_incremental_upserts_and_a_full_import_replaces(root: str) -> None:
    ledger = Ledger(root, TENANT)
    complete(ledger, history(50, [1, 2]), ImportMode.FULL)
    complete(ledger, history(60, [3]), ImportMode.INCREMENTAL)
    assert (len(ledger.rows), len(ledger.people)) == (160, 60)
    complete(ledger, history(20, [3]), ImportMode.FULL)
    assert (len(ledger.rows), len(ledger.people)) == (20, 20)
    assert [entry.mode for entry in Ledger(root, TENANT).ingestions] == [
        ImportMode.FULL,
        ImportMode.INCREMENTAL,
        ImportMode.FULL,
    ]


def test_a_partial_file_shows_the_people_it_would_drop(root: str) -> None:
    ledger = Ledger(root, TENANT)
    complete(ledger, history(100, [1, 2]), ImportMode.FULL)
    comparison = ledger.compare(digests(ledger, history(80, [3])))
    assert comparison.absent_people == 20
    assert comparison.drop_percent() == pytest.approx(20.0)
    assert comparison.summary()["people_added"] == 0


def test_a_new_hire_reporting_to_a_manager_known_only_from_the_ledger(root: str) -> None:
    ledger = Ledger(root, TENANT)
    complete(ledger, history(10, [1]), ImportMode.FULL)
    hire = pa.table(
        {
            "PersonId": ["new@contoso.com"],
            "ManagerId": ["p3@contoso.com"],
            "EffectiveDate": ["02/01/2026"],
            "Organization": ["org1"],
        }
    )
    file = digests(ledger, hire)
    assert ledger.compare(file).summary()["people_added"] == 1
    assert np.isin(file.manager, ledger.people.person).all()
    # The latest manager of each person is kept, keyed, so chains across file and ledger can be followed.
    manager_of = dict(zip(ledger.people.person.tolist(), ledger.people.manager.tolist(), strict=True))
    p3 = ledger.digester.digest_text("p3@contoso.com")
    assert manager_of[p3] == ledger.digester.digest_text("p0@contoso.com")


def test_column_order_blanks_and_nulls_do_not_count_as_changes(root: str) -> None:
    digester = Digester(b"k" * 32)
    table = pa.table({"PersonId": ["a", "b"], "EffectiveDate": ["01/01/2026"] * 2, "Level": ["", None]})
    reordered = table.select(["Level", "EffectiveDate", "PersonId"])
    first = digest_batch(digester, table, DateOrder.MDY)
    second = digest_batch(digester, reordered, DateOrder.MDY)
    assert (first.value == second.value).all()
    assert first.value[0] != first.value[1]  # the PersonId differs
    other_key = digest_batch(Digester(b"x" * 32), table, DateOrder.MDY)
    assert (other_key.value != first.value).all()


def test_no_value_in_clear_and_private_files(root: str) -> None:
    ledger = Ledger(root, TENANT)
    complete(ledger, history(30, [1, 2]), ImportMode.FULL)
    folder = Path(root) / TENANT
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for path in folder.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        data = path.read_bytes()
        assert b"contoso" not in data and b"org3" not in data, path


def test_a_corrupt_ledger_is_a_clear_error_and_left_alone(root: str) -> None:
    ledger = Ledger(root, TENANT)
    complete(ledger, history(10, [1]), ImportMode.FULL)
    manifest = Path(root) / TENANT / "manifest.json"
    manifest.write_text("{not json", encoding="utf-8")
    with pytest.raises(LedgerError, match="unreadable") as caught:
        Ledger(root, TENANT).summary()
    assert caught.value.exit_code == 2
    assert manifest.read_text(encoding="utf-8") == "{not json"


def test_a_missing_rows_file_is_a_clear_error(root: str) -> None:
    ledger = Ledger(root, TENANT)
    complete(ledger, history(10, [1]), ImportMode.FULL)
    for path in (Path(root) / TENANT).glob("rows-*.parquet"):
        path.write_bytes(b"garbage")
    with pytest.raises(LedgerError, match=r"rows-.*\.parquet cannot be read"):
        _ = Ledger(root, TENANT).rows


def test_a_foreign_or_newer_ledger_is_refused(root: str) -> None:
    complete(Ledger(root, TENANT), history(10, [1]), ImportMode.FULL)
    foreign = Path(root) / OTHER_TENANT
    (Path(root) / TENANT).rename(foreign)
    with pytest.raises(LedgerError, match=f"belongs to tenant '{TENANT}'"):
        _ = Ledger(root, OTHER_TENANT).manifest
    manifest = foreign / "manifest.json"
    document = json.loads(manifest.read_text(encoding="utf-8"))
    document.update(tenant_id=OTHER_TENANT, format=99)
    manifest.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(LedgerError, match="newer target-viva-insights"):
        _ = Ledger(root, OTHER_TENANT).manifest


def test_two_tenants_are_kept_apart(root: str) -> None:
    complete(Ledger(root, TENANT), history(10, [1]), ImportMode.FULL)
    complete(Ledger(root, OTHER_TENANT), history(25, [1, 2]), ImportMode.FULL)
    first, second = Ledger(root, TENANT), Ledger(root, OTHER_TENANT)
    assert (len(first.people), len(second.people)) == (10, 25)
    assert first.key != second.key
    assert first.compare(digests(first, history(10, [1]))).rows_to_send == 0


def test_a_concurrent_run_is_refused_naming_the_first(root: str) -> None:
    ledger = Ledger(root, TENANT)
    with ledger.locked():
        with pytest.raises(LedgerLocked) as caught, Ledger(root, TENANT).locked():
            pass
        assert f"pid {os.getpid()} on {socket.gethostname()}" in str(caught.value)
        assert caught.value.exit_code == 8
    with Ledger(root, TENANT).locked():  # released
        pass


def test_a_lock_left_by_a_dead_process_is_taken_over(root: str) -> None:
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True
    )
    folder = Path(root) / TENANT
    folder.mkdir(parents=True)
    lock = {"pid": int(gone.stdout), "host": socket.gethostname(), "started": "2026-01-01T00:00:00+00:00"}
    (folder / "lock").write_text(json.dumps(lock), encoding="utf-8")
    with Ledger(root, TENANT).locked():
        assert json.loads((folder / "lock").read_text(encoding="utf-8"))["pid"] == os.getpid()


def test_writing_needs_the_lock(root: str) -> None:
    ledger = Ledger(root, TENANT)
    file = digests(ledger, history(3, [1]))
    with pytest.raises(RuntimeError, match="lock"):
        ledger.record_completed(IngestionRecord("x", now_iso(), ImportMode.FULL, 3, 3, ""), file)


def test_an_upload_is_held_from_before_its_post_until_it_settles(root: str, tmp_path: Path) -> None:
    ledger = Ledger(root, TENANT)
    complete(ledger, history(10, [1]), ImportMode.FULL)
    package = tmp_path / "package.zip"
    package.write_bytes(b"the package")
    folder = Path(root) / TENANT
    with ledger.locked():
        record = ledger.begin_upload(
            IngestionRecord("", now_iso(), ImportMode.INCREMENTAL, 10, 10, "s"),
            digests(ledger, history(10, [2])),
            package,
        )
    sending = Ledger(root, TENANT)
    (held,) = sending.pending
    assert (held.status, held.ingestion_id, held.upload) == (RecordStatus.SENDING, "", record.upload)
    assert (folder / f"{record.pending_stem}.zip").read_bytes() == b"the package"
    assert oct((folder / f"{record.pending_stem}.zip").stat().st_mode & 0o777) == "0o600"
    assert len(sending.rows) == 10  # not yet what Viva holds
    with sending.locked():
        sending.accepted(held, "ing-2")
    accepted = Ledger(root, TENANT)
    assert [(p.ingestion_id, p.status) for p in accepted.pending] == [("ing-2", RecordStatus.PENDING)]
    with accepted.locked():
        accepted.settle("ing-2", completed=True)
    settled = Ledger(root, TENANT)
    assert (len(settled.rows), settled.pending) == (20, [])
    assert not list(folder.glob("pending-*"))


def test_a_failed_upload_is_kept_with_its_package_until_forgotten(root: str, tmp_path: Path) -> None:
    ledger = Ledger(root, TENANT)
    complete(ledger, history(10, [1]), ImportMode.FULL)
    package = tmp_path / "package.zip"
    package.write_bytes(b"month 3")
    with ledger.locked():
        record = ledger.begin_upload(
            IngestionRecord("", now_iso(), ImportMode.INCREMENTAL, 10, 10, "s"),
            digests(ledger, history(10, [3])),
            package,
        )
        ledger.accepted(record, "ing-3")
        ledger.settle("ing-3", completed=False)
    failed = Ledger(root, TENANT)
    (kept,) = failed.pending
    assert (kept.status, len(failed.rows), len(failed.ingestions)) == (RecordStatus.FAILED, 10, 1)
    copy = failed.pending_package(kept, tmp_path / "copy.zip")
    assert copy is not None and copy.read_bytes() == b"month 3"
    with failed.locked():
        failed.withdraw(failed.find_pending(record.upload))
    forgotten = Ledger(root, TENANT)
    assert (forgotten.pending, len(forgotten.rows)) == ([], 10)
    assert not list((Path(root) / TENANT).glob("pending-*"))
    with pytest.raises(LedgerError, match="not a pending upload"):
        forgotten.find_pending("ing-3")


def test_the_ledger_on_fsspec_memory_filesystem() -> None:
    root = f"memory://ledger-{uuid.uuid4().hex}"
    ledger = Ledger(root, TENANT)
    complete(ledger, history(40, [1, 2]), ImportMode.FULL)
    again = Ledger(root, TENANT)
    assert again.location.startswith("memory://")
    assert (len(again.rows), len(again.people)) == (80, 40)
    assert again.compare(digests(again, history(40, [1, 2, 3]))).rows_to_send == 40
    with again.locked(), pytest.raises(LedgerLocked), Ledger(root, TENANT).locked():
        pass


def test_default_ledger_path() -> None:
    assert default_ledger_path({"MELTANO_PROJECT_ROOT": "/srv/project"}) == str(
        Path("/srv/project/.meltano/viva-insights-ledger")
    )
    assert default_ledger_path({"XDG_DATA_HOME": "/data"}) == str(Path("/data/viva-insights/ledger"))


def test_an_unknown_protocol_is_a_clear_error() -> None:
    with pytest.raises(LedgerError, match="fsspec implementation"):
        Ledger("nosuchproto://bucket/ledger", TENANT)


def test_a_format_1_ledger_keeps_hmac_digests_and_stays_usable(root: str) -> None:
    import hmac

    from target_viva_insights.ledger.digests import DigestAlgorithm

    first = Ledger(root, TENANT)
    first.manifest["format"] = 1  # as the first release wrote it
    complete(first, history(10, [1, 2]), ImportMode.FULL)

    ledger = Ledger(root, TENANT)
    assert json.loads((Path(root) / TENANT / "manifest.json").read_text())["format"] == 1
    assert ledger.digester.algorithm is DigestAlgorithm.HMAC_SHA256
    raw = hmac.digest(ledger.key, b"p3@contoso.com", "sha256")[:8]
    assert int.from_bytes(raw, "little") in ledger.people.person.tolist()
    assert ledger.compare(digests(ledger, history(10, [1, 2]))).rows_to_send == 0
    assert ledger.compare(digests(ledger, history(10, [1, 2, 3]))).rows_to_send == 10


def test_a_new_ledger_is_format_2_with_blake2b_digests(root: str) -> None:
    import hashlib

    ledger = Ledger(root, TENANT)
    complete(ledger, history(10, [1]), ImportMode.FULL)
    assert json.loads((Path(root) / TENANT / "manifest.json").read_text())["format"] == 2
    raw = hashlib.blake2b(b"p3@contoso.com", key=ledger.key, digest_size=8).digest()
    assert int.from_bytes(raw, "little") in Ledger(root, TENANT).people.person.tolist()


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 40), st.integers(0, 9)), max_size=60),
    st.lists(st.tuples(st.integers(0, 40), st.integers(0, 9)), max_size=60),
)
def test_an_upsert_keeps_one_row_per_key_the_newest_winning(
    old_rows: list[tuple[int, int]], new_rows: list[tuple[int, int]]
) -> None:
    from target_viva_insights.ledger.store import _last_per_key, _upsert

    def digests(rows: list[tuple[int, int]]) -> RowDigests:
        keys = np.array([key for key, _ in rows], dtype=np.uint64)
        values = np.array([value for _, value in rows], dtype=np.uint64)
        return RowDigests(keys, values, keys.copy(), values.copy(), np.zeros(len(rows), dtype=np.int32))

    expected = dict(old_rows)
    expected.update(new_rows)
    merged = _upsert(_last_per_key(digests(old_rows)), digests(new_rows))
    assert merged.key.tolist() == sorted(expected)
    assert merged.value.tolist() == [expected[key] for key in sorted(expected)]
    assert merged.manager.tolist() == merged.value.tolist()  # every field moved together
