"""Incremental replication of files by modification time, and key property checks."""

from __future__ import annotations

import os

import pytest
from tap_hrsource.errors import KeyPropertyError
from tap_hrsource.tap import TapHRSource


def folder_stream(folder, **settings: object) -> dict:
    return {"streams": [{"name": "people", "path": str(folder), "key_properties": ["PersonId"], **settings}]}


def set_mtime(path, seconds: float) -> None:
    os.utime(path, (seconds, seconds))


def test_state_round_trip_reads_only_changed_files(tmp_path, run_tap):
    folder = tmp_path / "drop"
    folder.mkdir()
    first, second = folder / "2026-09.csv", folder / "2026-10.csv"
    first.write_text("PersonId,Layer\na@contoso.com,1\n")
    second.write_text("PersonId,Layer\nb@contoso.com,2\n")
    set_mtime(first, 1_780_000_000)
    set_mtime(second, 1_780_000_100)

    initial = run_tap(folder_stream(folder))
    assert {r["PersonId"] for r in initial.of("people")} == {"a@contoso.com", "b@contoso.com"}
    bookmark = initial.final_state["bookmarks"]["people"]["file_modified_at"]
    assert bookmark.startswith("2026-05-28T")  # 1_780_000_100 seconds, in UTC

    unchanged = run_tap(folder_stream(folder), state=initial.final_state)
    assert unchanged.of("people") == []
    assert unchanged.final_state["bookmarks"]["people"]["file_modified_at"] == bookmark

    first.write_text("PersonId,Layer\na@contoso.com,3\n")
    set_mtime(first, 1_780_000_200)
    changed = run_tap(folder_stream(folder), state=unchanged.final_state)
    assert changed.of("people") == [{"PersonId": "a@contoso.com", "Layer": 3}]
    assert changed.final_state["bookmarks"]["people"]["file_modified_at"] > bookmark


def test_snapshots_reread_all_files_when_one_changed(tmp_path, run_tap):
    folder = tmp_path / "drop"
    folder.mkdir()
    old, new = folder / "a.csv", folder / "b.csv"
    old.write_text("PersonId,EffectiveDate\na@contoso.com,2026-01-05\n")
    new.write_text("PersonId,EffectiveDate\nb@contoso.com,2026-02-05\n")
    set_mtime(old, 1_780_000_000)
    set_mtime(new, 1_780_000_100)
    config = folder_stream(
        folder,
        key_properties=["PersonId", "EffectiveDate"],
        history="monthly_snapshots",
        person_key="PersonId",
        effective_date_column="EffectiveDate",
        months=2,
        snapshot_end_date="2026-03-01",
    )
    first = run_tap(config)
    new.write_text("PersonId,EffectiveDate\nb@contoso.com,2026-01-20\n")
    set_mtime(new, 1_780_000_300)
    second = run_tap(config, state=first.final_state)
    got = sorted((r["PersonId"], r["EffectiveDate"]) for r in second.of("people"))
    # a's unchanged file is part of the history, so a is in the snapshots too.
    assert got == [
        ("a@contoso.com", "2026-02-01"),
        ("a@contoso.com", "2026-03-01"),
        ("b@contoso.com", "2026-02-01"),
        ("b@contoso.com", "2026-03-01"),
    ]


def test_duplicate_keys_across_files_name_both_rows(tmp_path):
    folder = tmp_path / "drop"
    folder.mkdir()
    (folder / "a.csv").write_text("PersonId,Layer\na@contoso.com,1\nb@contoso.com,1\n")
    (folder / "b.csv").write_text("PersonId,Layer\nc@contoso.com,1\nb@contoso.com,2\n")
    tap = TapHRSource(config=folder_stream(folder))
    with pytest.raises(KeyPropertyError) as raised:
        tap.sync_all()
    message = str(raised.value)
    assert "'b@contoso.com'" in message
    assert f"{folder / 'a.csv'} row 3" in message
    assert f"{folder / 'b.csv'} row 3" in message


def test_empty_key_names_file_row_and_column(tmp_path):
    source = tmp_path / "a.csv"
    source.write_text("PersonId,Layer\na@contoso.com,1\n,2\n")
    tap = TapHRSource(config=folder_stream(source))
    with pytest.raises(KeyPropertyError, match=r"a\.csv: row 3, key property 'PersonId' is empty"):
        tap.sync_all()


def test_unique_keys_pass_even_with_many_rows(tmp_path, run_tap):
    source = tmp_path / "a.csv"
    source.write_text(
        "PersonId,Day\n" + "".join(f"p{n % 1000}@contoso.com,{n // 1000}\n" for n in range(20_000))
    )
    output = run_tap(folder_stream(source, key_properties=["PersonId", "Day"]))
    assert len(output.of("people")) == 20_000


def test_snapshots_are_sent_again_when_a_new_month_starts(tmp_path, run_tap):
    source = tmp_path / "history.csv"
    source.write_text("PersonId,EffectiveDate\na@contoso.com,2026-01-05\n")
    settings = {
        "key_properties": ["PersonId", "EffectiveDate"],
        "history": "monthly_snapshots",
        "person_key": "PersonId",
        "effective_date_column": "EffectiveDate",
        "months": 2,
    }
    october = run_tap(folder_stream(source, **settings, snapshot_end_date="2026-10-01"))
    assert october.final_state["bookmarks"]["people"]["snapshot_end_date"] == "2026-10-01"
    same_month = run_tap(
        folder_stream(source, **settings, snapshot_end_date="2026-10-15"), state=october.final_state
    )
    assert same_month.of("people") == []
    november = run_tap(
        folder_stream(source, **settings, snapshot_end_date="2026-11-01"), state=october.final_state
    )
    assert [r["EffectiveDate"] for r in november.of("people")] == ["2026-10-01", "2026-11-01"]
