"""Property-based tests (hypothesis): any valid HR records come back exactly from data.csv; any invalid
value in them stops the run with no package and no STATE."""

from __future__ import annotations

import contextlib
import csv
import datetime
import io
import json
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from target_viva_insights.target import TargetVivaInsights
from viva_testing import hr_schema, singer_lines, small_org

EXTRA_PROPERTIES = {
    "Nickname": {"type": ["string", "null"]},
    "Badge": {"type": ["integer", "null"]},
    "HourlyRate": {"type": ["number", "null"]},
    "HireDate": {"type": ["string", "null"], "format": "date"},
}
SCHEMA = hr_schema(EXTRA_PROPERTIES)
STATE = {"bookmarks": {"employees": {"replication_key_value": "2025-01-01"}}}
INT64 = 2**63
PROPERTY_SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)

# Text a person could have in an HR field: any character but control characters (line breaks and NUL
# are rules of their own) and surrogates (not encodable as UTF-8).
free_text = st.text(st.characters(exclude_categories=("Cc", "Cs")), max_size=40)
non_blank_text = free_text.filter(lambda text: text.strip() != "")
dates = st.dates(min_value=datetime.date(1000, 1, 1), max_value=datetime.date(9999, 12, 31))
finite_floats = st.floats(allow_nan=False, allow_infinity=False)
local_parts = st.from_regex(r"\A[a-z0-9](?:[a-z0-9._-]{0,10}[a-z0-9])?\Z")


def run(lines: str, out: Path, **config: Any) -> tuple[BaseException | None, str]:
    """The target in this process; the error it ended with (if any) and what it wrote to stdout."""
    stdout = io.StringIO()
    error: BaseException | None = None
    with contextlib.redirect_stdout(stdout):
        try:
            target = TargetVivaInsights(config={"dry_run": True, "output_dir": str(out), **config})
            target.listen(io.StringIO(lines))
        except (Exception, SystemExit) as exc:  # the outcome is what each property asserts
            error = exc
    return error, stdout.getvalue()


@st.composite
def org_charts(draw: st.DrawFn) -> list[dict[str, Any]]:
    """A valid org chart of random people and values: one top, everyone else reports to someone before."""
    size = draw(st.integers(min_value=1, max_value=12))
    effective = draw(dates).isoformat()
    records = []
    for index in range(size):
        person = f"{draw(local_parts)}.{index}@contoso.com"
        manager = None if index == 0 else records[draw(st.integers(0, index - 1))]["PersonId"]
        hire = draw(st.none() | dates)
        records.append(
            {
                "PersonId": person,
                "ManagerId": manager,
                "Organization": draw(non_blank_text),
                "EffectiveDate": effective,
                "Layer": index,
                "Nickname": draw(st.none() | free_text),
                "Badge": draw(st.none() | st.integers(min_value=-INT64, max_value=INT64 - 1)),
                "HourlyRate": draw(st.none() | finite_floats | st.integers(-INT64, INT64 - 1)),
                "HireDate": None if hire is None else hire.isoformat(),
            }
        )
    return records


def data_rows(package: Path) -> list[dict[str, str]]:
    with zipfile.ZipFile(package) as archive:
        text = archive.read("data.csv").decode("utf-8")
    return list(csv.DictReader(io.StringIO(text, newline="")))


def viva_date(iso: str | None, date_order: str) -> str:
    if iso is None:
        return ""
    day = datetime.date.fromisoformat(iso)
    return f"{day:%m/%d/%Y}" if date_order == "MDY" else f"{day:%d/%m/%Y}"


@PROPERTY_SETTINGS
@given(records=org_charts(), date_order=st.sampled_from(["MDY", "DMY"]))
def test_valid_records_round_trip_exactly(records: list[dict[str, Any]], date_order: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        error, stdout = run(singer_lines(SCHEMA, records, state=STATE), out, date_order=date_order)
        assert error is None, error
        (package,) = out.glob("viva-insights-*.zip")
        rows = data_rows(package)
    assert json.loads(stdout.splitlines()[-1]) == STATE
    assert len(rows) == len(records)
    for row, record in zip(rows, records, strict=True):
        assert row["PersonId"] == record["PersonId"]
        assert row["ManagerId"] == (record["ManagerId"] or "")
        assert row["Organization"] == record["Organization"]
        assert row["Nickname"] == (record["Nickname"] or "")
        assert row["Badge"] == ("" if record["Badge"] is None else str(record["Badge"]))
        rate = record["HourlyRate"]
        if isinstance(rate, int):
            assert row["HourlyRate"] == str(rate)  # every digit, even beyond a float's 53 bits
        else:
            assert (row["HourlyRate"] == "") if rate is None else (float(row["HourlyRate"]) == rate)
        assert "e" not in row["HourlyRate"].lower()  # plain notation
        assert row["EffectiveDate"] == viva_date(record["EffectiveDate"], date_order)
        assert row["HireDate"] == viva_date(record["HireDate"], date_order)


# Values that break a rule, by the column they are put into.
not_an_email = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="@"), max_size=30)
INVALID_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "PersonId": not_an_email.filter(lambda text: text.strip() != ""),
    "Organization": st.just("") | st.text(" \t", min_size=1, max_size=3),
    "Nickname": st.builds(lambda a, b: f"{a}\n{b}", free_text, free_text),
    "Badge": free_text | st.floats().filter(lambda number: not float(number).is_integer()) | st.booleans(),
    "HourlyRate": non_blank_text | st.booleans(),
    "EffectiveDate": st.sampled_from(["2025-02-30", "2025-13-01", "yesterday", "2025/01/01", "0000-01-01"])
    | st.dates().map(lambda day: f"{day:%m/%d/%Y}"),  # not ISO: never read month-first
    "Layer": st.integers(min_value=2**63) | st.integers(max_value=-(2**63) - 1) | st.booleans(),
    "HireDate": st.dates().map(lambda day: f"{day:%d.%m.%Y}"),
    # A field the schema does not declare: the key is the drawn value.
    "undeclared": st.from_regex(r"\A[A-Za-z][A-Za-z0-9_]{0,15}\Z").filter(
        lambda name: name not in SCHEMA["properties"]
    ),
    "Organization ": st.builds(lambda a, b: f"{a}\x00{b}", free_text, free_text),  # NUL, any column
}


@settings(PROPERTY_SETTINGS, max_examples=80)
@given(
    column=st.sampled_from(sorted(INVALID_VALUES)),
    row=st.integers(min_value=0, max_value=5),
    data=st.data(),
)
def test_an_invalid_value_never_ships(column: str, row: int, data: st.DataObject) -> None:
    records = [{**record, "Nickname": None, "Badge": None, "HourlyRate": None} for record in small_org()]
    drawn = data.draw(INVALID_VALUES[column], label=column)
    if column == "undeclared":
        records[row][drawn] = "x"
    else:
        records[row][column.strip()] = drawn
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder)
        error, stdout = run(singer_lines(SCHEMA, records, state=STATE), out)
        assert error is not None
        assert not list(out.glob("*.zip"))
    assert stdout == ""  # no STATE
