"""The report's aggregates made batch by batch: the same figures as the whole file at once, and the
estimates (and the page's word for them) past the bounds that keep their memory flat."""

from __future__ import annotations

import dataclasses
import datetime
import zipfile
from pathlib import Path

import pyarrow as pa
from target_viva_insights.package import CsvField
from target_viva_insights.quality import profile_run
from target_viva_insights.quality.aggregates import SKETCH_SIZE, DistinctSketch
from target_viva_insights.quality.html import ESTIMATE_MARK, render
from target_viva_insights.quality.inputs import load
from target_viva_insights.quality.profile import (
    AttributeProfile,
    InputKind,
    ProfileBuilder,
    QualityProfile,
    columns_of,
    profile_table,
)
from target_viva_insights.rules import STRING_TYPE

TODAY = datetime.date(2026, 6, 15)
HEADER = "PersonId,ManagerId,Organization,EffectiveDate,HireDate,Layer,Badge"


def moving_people_rows() -> list[str]:
    """Three months of 12 people; p1 moves Sales -> Legal -> Sales, p2 Sales -> Legal, with untrimmed,
    blank and placeholder cells, and each person's rows far apart in the file."""
    rows = []
    for month, organization_of_p1 in (
        ("2026-01-01", "Sales"),
        ("2026-02-01", "Legal"),
        ("2026-03-01", "Sales"),
    ):
        for i in range(12):
            manager = "" if i == 0 else f"p{i // 4}@contoso.com"
            organization = (
                organization_of_p1 if i == 1 else ("Legal" if i == 2 and month != "2026-01-01" else "Sales")
            )
            organization = f"  {organization} " if i == 3 else organization
            hire = "N/A" if i == 4 else ("" if i == 5 else f"20{10 + i}-03-01")
            rows.append(f"p{i}@contoso.com,{manager},{organization},{month},{hire},{min(i, 2)},b{i}-{month}")
    return rows


def write_csv(path: Path, rows: list[str]) -> Path:
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def in_batches(path: Path, rows_per_batch: int, **caps: int) -> QualityProfile:
    loaded = load(path)
    builder = ProfileBuilder(loaded.columns, loaded.kind, **caps)
    for batch in loaded.table.to_batches(max_chunksize=rows_per_batch):
        builder.add_batch(batch)
    return builder.profile(source=path.name, reference_day=TODAY)


def attribute(profile: QualityProfile, name: str) -> AttributeProfile:
    return next(a for a in profile.attributes if a.name == name)


def test_batches_of_any_size_give_the_figures_of_the_whole_file(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "d.csv", moving_people_rows())
    loaded = load(path)
    whole = profile_table(
        loaded.table, loaded.columns, source=path.name, kind=loaded.kind, reference_day=TODAY
    )
    organization = attribute(whole, "Organization")
    # p1 is counted once in Sales although their rows go back to it; p2 is in both groups.
    assert [(g.label, g.people) for g in organization.largest_groups] == [("Sales", 12), (None, 2)]
    assert organization.unique_values == 2 and organization.exact
    assert attribute(whole, "HireDate").placeholders == {"N/A": 3}
    assert (whole.rows, whole.people, whole.effective_dates) == (36, 12, 3)
    for size in (1, 5, 7, 36):
        assert dataclasses.asdict(in_batches(path, size)) == dataclasses.asdict(whole), size


def test_the_target_reads_its_data_csv_in_blocks_with_the_same_figures(tmp_path: Path) -> None:
    rows = moving_people_rows() * 300  # about 300 KB: several blocks of data.csv
    data_zip = tmp_path / "data.zip"
    with zipfile.ZipFile(data_zip, "w") as archive:
        archive.writestr("data.csv", "\n".join([HEADER, *rows]) + "\n")
    fields = [CsvField(name, name, STRING_TYPE) for name in HEADER.split(",")]
    streamed, changes = profile_run(data_zip, fields, None, source="data.zip")
    table = load(write_csv(tmp_path / "d.csv", rows)).table
    columns = columns_of(table.column_names, dict.fromkeys(table.column_names, STRING_TYPE))
    whole = profile_table(table, columns, source="data.zip", kind=InputKind.PACKAGE)
    assert changes is None
    assert streamed.rows == len(rows) and streamed.people == 12
    assert dataclasses.asdict(streamed) == dataclasses.asdict(whole)


def test_past_the_caps_figures_are_estimates_and_the_page_marks_them(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "d.csv", moving_people_rows())
    exact = in_batches(path, 5)
    assert all(a.exact for a in exact.attributes) and "id='estimated'" not in render(exact)
    bounded = in_batches(path, 5, value_cap=2, pair_cap=1)
    badge = attribute(bounded, "Badge")  # 36 distinct values, 2 of them kept
    assert badge.unique_values == 36 and not badge.exact  # the sketch is exact below its size
    organization = attribute(bounded, "Organization")
    # Past the pair cap, people are counted per change of value: p1's return to Sales counts again.
    assert [g.people for g in organization.largest_groups] == [13, 2] and not organization.exact
    assert attribute(bounded, "ManagerId").exact  # all its values are kept, and nobody's changes
    html = render(bounded)
    assert "id='estimated'" in html and f"{ESTIMATE_MARK}13" in html and f"{ESTIMATE_MARK}36" in html


def test_the_distinct_sketch_estimates_many_values_within_a_few_percent() -> None:
    sketch = DistinctSketch()
    for start in range(0, 200_000, 50_000):
        sketch.add(pa.array([f"value-{i}" for i in range(start, start + 50_000)]))
        sketch.add(pa.array([f"value-{i}" for i in range(start, start + 1_000)]))  # seen already
    assert abs(sketch.estimate() - 200_000) / 200_000 < 0.06
    few = DistinctSketch()
    few.add(pa.array([f"v{i % 100}" for i in range(SKETCH_SIZE * 2)]))
    assert few.estimate() == 100
