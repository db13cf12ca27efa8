"""Storage-level safety of the delivery ledger: a lost manifest, a ledger_path set to the tenant's own
folder, and a full disk. Unit cases on real files, then the real target process against the emulator."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from target_viva_insights.emulator.process import EmulatorHandle
from target_viva_insights.errors import LedgerWriteFailed
from target_viva_insights.import_mode import ImportMode
from target_viva_insights.ledger.store import IngestionRecord, Ledger, LedgerError, now_iso
from test_ledger import TENANT, digests, history
from test_ledger_target import Runner, ok, org


@pytest.fixture
def run(emulator: EmulatorHandle, tmp_path: Path) -> Runner:
    return Runner(emulator, tmp_path)


def complete(ledger: Ledger, rows: int, mode: ImportMode = ImportMode.FULL) -> None:
    file = digests(ledger, history(rows, [1, 2]))
    record = IngestionRecord(
        str(uuid.uuid4()), now_iso(), mode, len(file), len(np.unique(file.person)), "0" * 64
    )
    with ledger.locked():
        ledger.record_completed(record, file)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


@contextlib.contextmanager
def small_disk(folder: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` at `folder`: a real full disk (ENOSPC from the kernel)."""
    folder.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"a small tmpfs cannot be mounted here (needs root): {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder: Path) -> None:
    """Fill the file system holding `folder` to its last byte."""
    with (folder / "filler").open("wb", buffering=0) as handle, contextlib.suppress(OSError):
        while True:
            handle.write(b"\0" * 4096)
    assert shutil.disk_usage(folder).free < 4096


# ---- the manifest lost, its files still there ----------------------------------------------------


def test_ledger_files_without_their_manifest_are_an_unreadable_ledger(tmp_path: Path) -> None:
    root = str(tmp_path / "ledger")
    complete(Ledger(root, TENANT), 20)
    folder = Path(root) / TENANT
    (folder / "manifest.json").unlink()
    before = snapshot(folder)

    ledger = Ledger(root, TENANT)
    with pytest.raises(LedgerError) as raised:
        ledger.holds_data()
    message = str(raised.value)
    assert "manifest.json is missing" in message and "rows-" in message and "people-" in message
    assert "adopt" in message  # says what to do
    assert snapshot(folder) == before


def test_a_folder_with_only_a_key_and_a_lock_is_no_ledger_yet(tmp_path: Path) -> None:
    root = tmp_path / "ledger"
    (root / TENANT).mkdir(parents=True)
    (root / TENANT / "key").write_text("00" * 32 + "\n", encoding="ascii")
    ledger = Ledger(str(root), TENANT)
    assert ledger.manifest["ingestions"] == [] and not ledger.holds_data()


def test_the_target_refuses_a_ledger_whose_manifest_is_lost(run: Runner) -> None:
    ok(run(org(6, ["2026-01-01"])))
    folder = Path(run.ledger_path) / run.emulator.tenant_id
    (folder / "manifest.json").unlink()
    before = snapshot(folder)
    result = run(org(6, ["2026-01-01", "2026-02-01"]))
    assert result.returncode == 2, result.stderr[-2000:]
    assert "manifest.json is missing" in result.stderr and "Traceback" not in result.stderr
    assert len(run.uploads()) == 1  # no second upload, no wipe
    assert snapshot(folder) == before


# ---- ledger_path set to the tenant's folder --------------------------------------------------------


def test_ledger_path_set_to_the_tenant_folder_finds_that_ledger(tmp_path: Path) -> None:
    root = str(tmp_path / "ledger")
    complete(Ledger(root, TENANT), 20)
    folder = str(Path(root) / TENANT)
    direct = Ledger(folder, TENANT)
    assert direct.folder == folder and direct.summary()["rows"] == 40
    # Another tenant's folder named like this tenant is not taken for this tenant's ledger.
    assert Ledger(folder, str(uuid.uuid4())).folder != folder


def test_a_folder_named_for_the_tenant_without_a_ledger_gets_one_below_it(tmp_path: Path) -> None:
    folder = tmp_path / TENANT
    folder.mkdir()
    assert Ledger(str(folder), TENANT).folder == f"{folder}/{TENANT}"


def test_the_target_uses_the_ledger_at_the_folder_its_log_names(run: Runner) -> None:
    months = ["2026-01-01", "2026-02-01"]
    ok(run(org(6, months)))
    folder = Path(run.ledger_path) / run.emulator.tenant_id
    again = ok(run(org(6, months), ledger_path=str(folder)))
    assert "Nothing changed since ingestion" in again.stderr
    assert len(run.uploads()) == 1
    assert not (folder / run.emulator.tenant_id).exists()


# ---- a full disk -------------------------------------------------------------------------------------


def test_a_full_disk_leaves_the_ledger_as_it_was_and_no_partial_files(tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk", "1m") as disk:
        root = str(disk / "ledger")
        complete(Ledger(root, TENANT), 20)
        folder = Path(root) / TENANT
        before = snapshot(folder)
        ledger = Ledger(root, TENANT)
        file = digests(ledger, history(5000, [3]))
        record = IngestionRecord(
            str(uuid.uuid4()), now_iso(), ImportMode.INCREMENTAL, len(file), 5000, "0" * 64
        )
        with ledger.locked():
            fill(disk)
            with pytest.raises(LedgerWriteFailed) as raised:
                ledger.record_completed(record, file)
        assert os.strerror(errno.ENOSPC) in str(raised.value) and "as it was" in str(raised.value)
        assert raised.value.exit_code == 2
        (disk / "filler").unlink(missing_ok=True)
        assert snapshot(folder) == before  # no partial file, no new generation, manifest unchanged
        # The lock itself cannot be taken on a full disk: refused the same way, no empty lock left.
        fill(disk)
        with pytest.raises(LedgerWriteFailed), Ledger(root, TENANT).locked():
            pass
        assert not (folder / "lock").exists()
        (disk / "filler").unlink()
        assert Ledger(root, TENANT).summary()["rows"] == 40


def test_the_target_reports_a_full_disk_in_plain_words(run: Runner, tmp_path: Path) -> None:
    with small_disk(tmp_path / "disk", "8k") as disk:
        run.ledger_path = str(disk / "ledger")
        result = run(org(400, ["2026-01-01", "2026-02-01"]))
        assert result.returncode == 2, result.stderr[-2000:]
        assert run.uploads() == []  # the upload is recorded before its POST: no room, nothing sent
        assert "could not be written" in result.stderr and os.strerror(errno.ENOSPC) in result.stderr
        assert "Traceback" not in result.stderr
        leftovers = [path.name for path in (disk / "ledger" / run.emulator.tenant_id).iterdir()]
        assert not [name for name in leftovers if name.endswith(".partial")], leftovers
        assert not [name for name in leftovers if name.startswith(("rows-", "people-", "pending-"))], (
            leftovers
        )
        assert "lock" not in leftovers
