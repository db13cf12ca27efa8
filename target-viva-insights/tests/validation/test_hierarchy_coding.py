"""The org chart checks give the same findings however the rows are grouped for coding addresses.

The hierarchy codes addresses a few batches at a time (every CODE_EVERY_ROWS rows, or as many rows as
addresses are known, at most CODE_AT_MOST_ROWS); small limits here make a small file take many rounds,
with new people arriving in later rounds.
"""

from __future__ import annotations

import pyarrow as pa
import pytest
from target_viva_insights.import_mode import ImportMode
from target_viva_insights.package import CsvField
from target_viva_insights.rules import DateOrder
from target_viva_insights.validation import hierarchy
from target_viva_insights.validation.validator import DataValidator

FIELDS = [
    CsvField("PersonId", "PersonId", "EmailType"),
    CsvField("ManagerId", "ManagerId", "EmailType"),
    CsvField("Organization", "Organization", "StringType"),
    CsvField("EffectiveDate", "EffectiveDate", "DateTime_MMDDYYYY"),
]
ROWS = [  # (PersonId, ManagerId, EffectiveDate); data.csv line = index + 2
    ("ceo@contoso.com", "", "01/01/2026"),
    ("ana@contoso.com", "ceo@contoso.com", "01/01/2026"),
    ("ben@contoso.com", "ana@contoso.com", "01/01/2026"),
    ("cat@contoso.com", "ben@contoso.com", "01/01/2026"),
    ("dan@contoso.com", "eve@contoso.com", "01/01/2026"),
    ("eve@contoso.com", "dan@contoso.com", "01/01/2026"),  # dan and eve report to each other
    ("ana@contoso.com", "ceo@contoso.com", "01/01/2026"),  # ana twice on the same date (line 8)
    ("fay@contoso.com", "cat@contoso.com", "01/01/2026"),
    ("gus@contoso.com", "fay@contoso.com", "01/01/2026"),
]


def judge(batch_size: int) -> list[tuple[str, int | None, str | None]]:
    validator = DataValidator(FIELDS, date_order=DateOrder.MDY, import_mode=ImportMode.FULL)
    for start in range(0, len(ROWS), batch_size):
        rows = ROWS[start : start + batch_size]
        table = pa.table(
            {
                "PersonId": [row[0] for row in rows],
                "ManagerId": [row[1] for row in rows],
                "Organization": ["Sales"] * len(rows),
                "EffectiveDate": [row[2] for row in rows],
            }
        )
        validator.add_batch(table, start + 2)
    report = validator.finish()
    return sorted((issue.rule.id, issue.row, issue.value) for issue in report.issues)  # warnings too


@pytest.mark.parametrize(("every", "at_most", "batch_size"), [(2, 4, 1), (3, 3, 2), (1, 1, 4)])
def test_findings_do_not_depend_on_coding_rounds(monkeypatch, every, at_most, batch_size) -> None:
    expected = judge(len(ROWS))  # one batch, coded once at the end
    assert ("duplicate-person-date", 8, "ana@contoso.com") in expected
    assert ("reporting-loop", 6, "eve@contoso.com") in expected
    assert ("reporting-loop", 7, "dan@contoso.com") in expected
    monkeypatch.setattr(hierarchy, "CODE_EVERY_ROWS", every)
    monkeypatch.setattr(hierarchy, "CODE_AT_MOST_ROWS", at_most)
    assert judge(batch_size) == expected
