"""What one upload to Microsoft 365 must carry: each person's current state, compared with what the
tenant holds.

An upload merges into the tenant: a blank cell keeps the held value, `''` deletes it (`-1` for
Microsoft_Layer), a person is deleted by deleting every attribute. So history is never sent. Each
person's current state is their row with the latest EffectiveDate not after today (rows dated later are
held back and counted); the first upload carries everyone, later ones only the people whose current
state differs from what the tenant was last sent, as whole rows, with the delete token wherever a
delivered value is now blank (a blank would silently keep the stale value). People the input does not
name are left alone, unless the input is declared the whole population: then they are counted and, when
asked, deleted, within `max_drop_percent` of the people held.

The per-person state is what the tenant holds, without HR values in clear: per person the keyed
digest of their address in lower case (`digests.Digester`, the ledger's key), a
keyed digest per attribute, and the address sealed (AES-GCM under a key derived from the ledger's), the
one value a deletion has to write back. Everything per row is pyarrow and numpy; only the current rows
(one per person) are formatted and digested per attribute.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import hashlib
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from target_viva_insights import rules
from target_viva_insights.dates import viva_date_days
from target_viva_insights.destinations.m365.columns import (
    PERSON_EMAIL,
    M365Column,
    M365Plan,
    formatted_values,
    plan_columns,
)
from target_viva_insights.errors import DataValidationFailed
from target_viva_insights.ledger.digest_index import DigestIndex, find_sorted, last_of_runs, sorted_distinct
from target_viva_insights.ledger.digests import Digester, EncodedColumn, dictionary_batches
from target_viva_insights.private_files import private_file
from target_viva_insights.rules import DateOrder, ValueKind

PERSON = "person"  # the address's digest, uint64, sorted
SEALED = "sealed"  # nonce + AES-GCM of the address, binary
ATTRIBUTE_PREFIX = "a:"  # "a:<header>": the digest of the value the tenant holds (the digester's null: none)
_EPOCH = datetime.date(1970, 1, 1)
_NONCE_BYTES = 12
UPLOAD_BATCH_ROWS = 8192


class PopulationDropRefused(DataValidationFailed):
    """Deleting the people the input lacks would delete more than `max_drop_percent` of the tenant."""


class AddressSealer:
    """Seals and opens people's addresses with a key derived from the ledger's (never the key itself)."""

    def __init__(self, ledger_key: bytes) -> None:
        derived = hashlib.blake2b(ledger_key, digest_size=32, person=b"m365-address").digest()
        self._aead = AESGCM(derived)

    def seal(self, addresses: Iterable[str]) -> pa.Array:
        sealed = []
        for address in addresses:
            nonce = os.urandom(_NONCE_BYTES)
            sealed.append(nonce + self._aead.encrypt(nonce, address.encode("utf-8"), None))
        return pa.array(sealed, pa.binary())

    def open(self, sealed: Iterable[bytes]) -> list[str]:
        return [
            self._aead.decrypt(item[:_NONCE_BYTES], item[_NONCE_BYTES:], None).decode("utf-8")
            for item in sealed
        ]


def empty_state() -> pa.Table:
    """The state of a tenant nothing was sent to."""
    return pa.table({PERSON: pa.array([], pa.uint64()), SEALED: pa.array([], pa.binary())})


@dataclasses.dataclass
class CurrentRows:
    """One data.csv row per person: the latest not dated after today, in file order, as text."""

    table: pa.Table  # data.csv's columns (text, null where blank)
    person: np.ndarray  # uint64 digest of each row's PersonId
    lines: np.ndarray  # int64: each row's line in data.csv (the header is line 1)
    rows_read: int
    rows_held_back: int  # dated after today
    people_held_back: int  # people all of whose rows are dated after today
    rows_without_person: int
    people_in_input: np.ndarray  # sorted digests of every person the input names, dated later or not


def current_rows(
    data: IO[bytes], digester: Digester, *, date_order: DateOrder, today: datetime.date
) -> CurrentRows:
    """Each person's current row of data.csv (at its start); rows of one date: the last one wins."""
    batches: list[pa.RecordBatch] = []
    persons: list[np.ndarray] = []
    days: list[np.ndarray] = []
    try:
        with dictionary_batches(data) as reader:
            for batch in reader:
                batches.append(batch)
                persons.append(_person_digests(batch, digester))
                days.append(_effective_days(batch, date_order))
    except pa.ArrowInvalid as error:
        if batches or "Empty CSV" not in str(error):
            raise
        # A header and no rows: nobody's current state is known.
    person = np.concatenate(persons) if persons else np.zeros(0, np.uint64)
    day = np.concatenate(days) if days else np.zeros(0, np.int32)
    today_days = (today - _EPOCH).days
    named = person != digester.null
    held = named & (day > today_days)
    eligible = np.nonzero(named & ~held)[0]
    order = eligible[np.lexsort((eligible, day[eligible], person[eligible]))]
    chosen = np.sort(order[last_of_runs(person[order])])
    people_in_input = sorted_distinct(person[named])
    table = _take_rows(batches, chosen)
    return CurrentRows(
        table=table,
        person=person[chosen],
        lines=chosen.astype(np.int64) + 2,
        rows_read=len(person),
        rows_held_back=int(held.sum()),
        people_held_back=len(people_in_input) - len(chosen),
        rows_without_person=int((~named).sum()),
        people_in_input=people_in_input,
    )


def upload_plan(
    current: CurrentRows, fields: Mapping[str, ValueKind], column_mapping: Mapping[str, str] | None = None
) -> M365Plan:
    """The upload's columns for data.csv's fields; SupervisorIndicator judged by the current rows' values."""
    names = current.table.column_names
    supervisor = rules.SUPERVISOR_INDICATOR
    values = current.table.column(supervisor).unique().to_pylist() if supervisor in names else []
    return plan_columns(fields, column_mapping=column_mapping, supervisor_values=values)


def _person_digests(batch: pa.RecordBatch, digester: Digester) -> np.ndarray:
    if rules.PERSON_ID not in batch.schema.names:
        raise DataValidationFailed(f"data.csv has no {rules.PERSON_ID} column: people are known by it")
    column = EncodedColumn.of(batch.column(rules.PERSON_ID))
    # Microsoft 365 knows a person by address, whatever its case: so does the state.
    lowered = pc.utf8_lower(pc.cast(column.dictionary, pa.string()))
    return column.per_row(digester.digest_values(lowered), digester.null)


def _effective_days(batch: pa.RecordBatch, date_order: DateOrder) -> np.ndarray:
    """Days since 1970 of each row's EffectiveDate; a row without one counts as current (day 0)."""
    if rules.EFFECTIVE_DATE not in batch.schema.names:
        return np.zeros(batch.num_rows, np.int32)
    column = EncodedColumn.of(batch.column(rules.EFFECTIVE_DATE))
    dates = pc.cast(viva_date_days(pc.cast(column.dictionary, pa.string()), date_order), pa.int32())
    per_value = np.asarray(pc.fill_null(dates, 0).to_numpy(zero_copy_only=False), dtype=np.int32)
    return column.per_row(per_value, 0)


def _take_rows(batches: Sequence[pa.RecordBatch], rows: np.ndarray) -> pa.Table:
    """The rows at these (sorted) positions across the batches, as plain text columns."""
    parts = []
    start = 0
    for batch in batches:
        end = start + batch.num_rows
        lo, hi = np.searchsorted(rows, [start, end])
        if hi > lo:
            taken = batch.take(pa.array(rows[lo:hi] - start))
            parts.append(
                pa.table({name: pc.cast(taken.column(name), pa.string()) for name in batch.schema.names})
            )
        start = end
    if not parts:
        names = batches[0].schema.names if batches else [rules.PERSON_ID]
        return pa.table({name: pa.array([], pa.string()) for name in names})
    return pa.concat_tables(parts)


@dataclasses.dataclass
class Delta:
    """The upload (Microsoft 365 headers, null = blank cell) and the state to record once it is accepted."""

    upload: pa.Table
    new_state: pa.Table
    people_current: int
    people_new: int
    people_changed: int
    people_unchanged: int
    people_missing: int  # held, not in the input (counted only for a whole-population input)
    people_deleted: int
    values_deleted: int  # cells carrying the delete token for a value that is now blank
    rows_read: int
    rows_held_back: int
    people_held_back: int
    rows_without_person: int

    @property
    def people_sent(self) -> int:
        return self.upload.num_rows

    def summary(self) -> dict[str, int]:
        return {
            "rows_read": self.rows_read,
            "rows_held_back": self.rows_held_back,
            "people_held_back": self.people_held_back,
            "rows_without_person": self.rows_without_person,
            "people_current": self.people_current,
            "people_new": self.people_new,
            "people_changed": self.people_changed,
            "people_unchanged": self.people_unchanged,
            "people_missing": self.people_missing,
            "people_deleted": self.people_deleted,
            "values_deleted": self.values_deleted,
            "people_sent": self.people_sent,
        }


def compute_delta(
    current: CurrentRows,
    columns: Sequence[M365Column],
    state: pa.Table,
    digester: Digester,
    sealer: AddressSealer,
    *,
    date_order: DateOrder,
    whole_population: bool = False,
    remove_missing: bool = False,
    max_drop_percent: float | None = None,
    resend_all: bool = False,
) -> Delta:
    """The upload that brings the tenant from `state` to the input's current rows, and the state after it.

    Args:
        current: the input's current rows (`current_rows`).
        columns: the upload's columns (`columns.plan_columns`); one must be Microsoft_PersonEmail.
        state: what the tenant holds (`empty_state()` before the first upload).
        digester: the ledger's digester (its key makes the digests comparable from run to run).
        sealer: seals the addresses kept for deletions.
        date_order: the order of data.csv's dates.
        whole_population: the input names everyone: people held but not named are counted.
        remove_missing: with `whole_population`, delete those people (every attribute `''`, Layer -1).
        max_drop_percent: refuse deletions of more than this share of the people held.
        resend_all: send every current person, changed or not.

    Raises:
        PopulationDropRefused: the deletions would exceed `max_drop_percent`.
    """
    if not any(column.name == PERSON_EMAIL for column in columns):
        raise DataValidationFailed(f"the upload has no {PERSON_EMAIL} column")
    state = _sorted_state(state)
    held_people = state.column(PERSON).to_numpy()
    found, position = DigestIndex(held_people).find(current.person)
    people = len(current.person)
    changed = np.zeros(people, dtype=bool)
    texts: dict[str, pa.Array] = {}
    digests: dict[str, np.ndarray] = {}
    emptied: dict[str, np.ndarray] = {}
    view = formatted_table(current, columns, date_order)
    for column in columns:
        text = view.column(column.name).combine_chunks()
        now = _digests(text, digester)
        held = _held(state, column.name, position, found, digester)
        changed |= held != now
        emptied[column.name] = (now == digester.null) & (held != digester.null)
        texts[column.name], digests[column.name] = text, now
    send = changed | ~found
    if resend_all:
        send[:] = True
    upload = _upload_rows(columns, texts, emptied, send)
    missing = (
        _missing_people(held_people, current.people_in_input) if whole_population else np.zeros(0, np.int64)
    )
    deleting = remove_missing and whole_population and len(missing) > 0
    if deleting:
        _guard_drop(len(missing), len(held_people), max_drop_percent)
        upload = pa.concat_tables([upload, _deletion_rows(columns, state, missing, sealer)])
    new_state = _next_state(state, current, columns, digests, send, found, position, sealer, digester)
    if deleting:
        new_state = new_state.filter(
            pc.invert(pc.is_in(new_state.column(PERSON), pa.array(held_people[missing])))
        )
    return Delta(
        upload=upload,
        new_state=new_state,
        people_current=people,
        people_new=int((~found).sum()),
        people_changed=int((changed & found).sum()),
        people_unchanged=int((~changed & found).sum()),
        people_missing=len(missing),
        people_deleted=len(missing) if deleting else 0,
        values_deleted=int(sum((emptied[name] & send).sum() for name in emptied)),
        rows_read=current.rows_read,
        rows_held_back=current.rows_held_back,
        people_held_back=current.people_held_back,
        rows_without_person=current.rows_without_person,
    )


def formatted_table(current: CurrentRows, columns: Sequence[M365Column], date_order: DateOrder) -> pa.Table:
    """The current rows under the upload's headers, their values as the upload writes them (null: blank):
    what the rules (`destinations/m365/rules.py`) judge."""
    table = current.table
    empty = pa.nulls(table.num_rows, pa.string())  # a header-only data.csv gives no batch to name columns
    return pa.table(
        {
            column.name: formatted_values(
                table.column(column.field).combine_chunks() if column.field in table.column_names else empty,
                column,
                date_order,
            )
            for column in columns
        }
    )


def _sorted_state(state: pa.Table) -> pa.Table:
    persons = state.column(PERSON).to_numpy()
    if len(persons) > 1 and not (persons[1:] >= persons[:-1]).all():
        state = state.take(pa.array(np.argsort(persons, kind="stable")))
    return state


def _digests(text: pa.Array, digester: Digester) -> np.ndarray:
    column = EncodedColumn.of(text)
    return column.per_row(digester.digest_values(column.dictionary), digester.null)


def _held(
    state: pa.Table, name: str, position: np.ndarray, found: np.ndarray, digester: Digester
) -> np.ndarray:
    """What the tenant holds for `name` per current person (the null digest where nothing)."""
    key = ATTRIBUTE_PREFIX + name
    if key not in state.column_names or state.num_rows == 0:
        return np.full(len(found), digester.null, dtype=np.uint64)
    return np.where(found, state.column(key).to_numpy()[position], digester.null).astype(np.uint64)


def _upload_rows(
    columns: Sequence[M365Column],
    texts: dict[str, pa.Array],
    emptied: dict[str, np.ndarray],
    send: np.ndarray,
) -> pa.Table:
    chosen = pa.array(send)
    out = {}
    for column in columns:
        text = pc.if_else(pa.array(emptied[column.name]), column.delete_token, texts[column.name])
        out[column.name] = pc.filter(text, chosen)
    return pa.table(out)


def _missing_people(held_people: np.ndarray, named: np.ndarray) -> np.ndarray:
    """Positions in the state of the people the input does not name."""
    present, _ = find_sorted(named, held_people)
    return np.nonzero(~present)[0]


def _guard_drop(missing: int, held: int, max_drop_percent: float | None) -> None:
    percent = 100.0 * missing / held if held else 0.0
    if max_drop_percent is not None and percent > max_drop_percent:
        raise PopulationDropRefused(
            f"Deleting the people the input lacks would delete {missing} of the {held} people the tenant "
            f"holds ({percent:.1f}%, more than max_population_drop_percent {max_drop_percent:g}); nothing "
            "was sent. If they really left, raise the limit for this run."
        )


def _deletion_rows(
    columns: Sequence[M365Column], state: pa.Table, missing: np.ndarray, sealer: AddressSealer
) -> pa.Table:
    """One row per person to delete: their address, every other attribute's delete token."""
    addresses = sealer.open(state.column(SEALED).take(pa.array(missing)).to_pylist())
    count = len(addresses)
    out = {}
    for column in columns:
        if column.name == PERSON_EMAIL:
            out[column.name] = pa.array(addresses, pa.string())
        else:
            out[column.name] = pa.array([column.delete_token] * count, pa.string())
    return pa.table(out)


def _next_state(
    state: pa.Table,
    current: CurrentRows,
    columns: Sequence[M365Column],
    digests: dict[str, np.ndarray],
    send: np.ndarray,
    found: np.ndarray,
    position: np.ndarray,
    sealer: AddressSealer,
    digester: Digester,
) -> pa.Table:
    """The state once the upload is accepted: sent people take their current digests, new people are
    added, everyone else keeps what the tenant holds."""
    held_count = state.num_rows
    updated = np.nonzero(send & found)[0]
    added = np.nonzero(send & ~found)[0]
    names = [
        name.removeprefix(ATTRIBUTE_PREFIX)
        for name in state.column_names
        if name.startswith(ATTRIBUTE_PREFIX)
    ]
    names += [column.name for column in columns if column.name not in names]
    person = np.concatenate([state.column(PERSON).to_numpy(), current.person[added]])
    addresses = current.table.column(rules.PERSON_ID).combine_chunks().take(pa.array(added)).to_pylist()
    sealed = pa.concat_arrays([state.column(SEALED).combine_chunks(), sealer.seal(addresses)])
    out: dict[str, pa.Array | np.ndarray] = {PERSON: person, SEALED: sealed}
    for name in names:
        key = ATTRIBUTE_PREFIX + name
        held = (
            state.column(key).to_numpy() if key in state.column_names else np.full(held_count, digester.null)
        )
        values = np.concatenate([held.astype(np.uint64), np.full(len(added), digester.null, np.uint64)])
        if name in digests:
            values[position[updated]] = digests[name][updated]
            values[held_count:] = digests[name][added]
        out[key] = values
    order = np.argsort(person, kind="stable")
    return pa.table(out).take(pa.array(order))


def write_upload_csv(upload: pa.Table, path: Path) -> Path:
    """The upload as the CSV file posted, created 0600 (it holds HR data): UTF-8, one header row, a blank
    cell for null, quotes only where a value needs them (so the delete token is written bare, `''`)."""
    with private_file(path) as handle:
        writer = csv.writer(handle, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
        writer.writerow(upload.column_names)
        for batch in upload.to_batches(max_chunksize=UPLOAD_BATCH_ROWS):
            columns = [batch.column(index).to_pylist() for index in range(batch.num_columns)]
            writer.writerows(zip(*columns, strict=True))
    return path
