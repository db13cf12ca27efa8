"""Microsoft's rules for an upload to Organizational data in Microsoft 365, checked before it is sent.

They judge the current rows under the upload's headers (`delta.formatted_table`): one row per person, as
the tenant would hold them. Each rule is an entry of `catalogue.Rule` (ids `m365-*`) whose source is the
Microsoft page that states it; target-viva-insights/docs/m365-rules.md gives each one's sentence. Findings
name data.csv's line of the person's current row; values stay in the report file (`Issue.value`), except
for the name group, whose warning names rows only.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from target_viva_insights import rules
from target_viva_insights.catalogue import Rule
from target_viva_insights.dates import viva_date_days
from target_viva_insights.destinations.m365.columns import (
    GLINT_EMPLOYMENT_STATUS,
    HOURLY_RATE,
    LAYER,
    MANAGER_EMAIL,
    NAME_GROUP,
    ORGANIZATION,
    PERSON_EMAIL,
    SUPERVISOR_INDICATOR,
    GlintEmploymentStatus,
    M365Column,
    SupervisorLevel,
)
from target_viva_insights.rules import DateOrder, ValueKind
from target_viva_insights.validation.report import MAX_ISSUES_PER_RULE, Issue, ValidationReport

MAX_ATTRIBUTES = 105
# "at least 95% of your users must have data for those attributes. If not, the upload fails."
MIN_COVERAGE_PERCENT = 95.0
COVERAGE_ATTRIBUTES = (MANAGER_EMAIL, ORGANIZATION)
LAYER_PATTERN = r"^(?:[0-9]+|-1)$"
MDY_PATTERN = r"^[0-9]{2}/[0-9]{2}/[0-9]{4}$"


def check_upload(
    view: pa.Table, columns: Sequence[M365Column], lines: np.ndarray, report: ValidationReport
) -> ValidationReport:
    """Add every finding of Microsoft 365's rules for `view` to `report`.

    Args:
        view: the current rows under the upload's headers (`delta.formatted_table`), null where blank.
        columns: the upload's columns.
        lines: each row's line in data.csv.
        report: where the findings go.

    Returns:
        `report`.
    """
    _attribute_count(columns, report)
    _person_email(view, lines, report)
    _coverage(view, report)
    _name_group(view, lines, report)
    enums = {
        SUPERVISOR_INDICATOR: (Rule.M365_SUPERVISOR_INDICATOR, [level.value for level in SupervisorLevel]),
        GLINT_EMPLOYMENT_STATUS: (
            Rule.M365_GLINT_EMPLOYMENT_STATUS,
            [status.value for status in GlintEmploymentStatus],
        ),
    }
    for name, (rule, allowed) in enums.items():
        if name in view.column_names:
            bad = pc.invert(pc.is_in(view.column(name), value_set=pa.array(allowed)))
            _row_findings(view, name, bad, lines, rule, f"must be one of {', '.join(allowed)}", report)
    if HOURLY_RATE in view.column_names:
        bad = pc.invert(pc.match_substring_regex(view.column(HOURLY_RATE), rules.DOUBLE_PATTERN))
        _row_findings(
            view, HOURLY_RATE, bad, lines, Rule.M365_HOURLY_RATE, "must be a number (Double)", report
        )
    if LAYER in view.column_names:
        bad = pc.invert(pc.match_substring_regex(view.column(LAYER), LAYER_PATTERN))
        message = "must be a whole number of 0 or more (-1 deletes the value)"
        _row_findings(view, LAYER, bad, lines, Rule.M365_LAYER, message, report)
    for column in columns:
        if column.kind is ValueKind.DATE and column.name in view.column_names:
            text = view.column(column.name)
            real = pc.is_valid(viva_date_days(text, DateOrder.MDY))
            bad = pc.invert(pc.and_(real, pc.match_substring_regex(text, MDY_PATTERN)))
            message = "must be a calendar date written MM/DD/YYYY"
            _row_findings(view, column.name, bad, lines, Rule.M365_DATE, message, report)
    return report


def _attribute_count(columns: Sequence[M365Column], report: ValidationReport) -> None:
    if len(columns) > MAX_ATTRIBUTES:
        report.add(
            Issue(
                Rule.M365_TOO_MANY_ATTRIBUTES,
                f"the upload has {len(columns)} attributes; Microsoft 365 takes at most {MAX_ATTRIBUTES}, "
                "the required ones included (leave some out with exclude_columns)",
            )
        )


def _person_email(view: pa.Table, lines: np.ndarray, report: ValidationReport) -> None:
    if PERSON_EMAIL not in view.column_names:
        report.add(
            Issue(Rule.M365_PERSON_EMAIL, f"the upload has no {PERSON_EMAIL} column; every row needs one")
        )
        return
    text = view.column(PERSON_EMAIL)
    bad = pc.invert(pc.match_substring_regex(text, rules.EMAIL_PATTERN))
    message = "must be the person's e-mail address on every row (100% of rows)"
    _row_findings(view, PERSON_EMAIL, bad, lines, Rule.M365_PERSON_EMAIL, message, report, keep_blank=True)


def _coverage(view: pa.Table, report: ValidationReport) -> None:
    people = view.num_rows
    for name in COVERAGE_ATTRIBUTES:
        if name not in view.column_names or people == 0:
            continue
        carried = people - view.column(name).null_count
        percent = 100.0 * carried / people
        if percent < MIN_COVERAGE_PERCENT:
            report.add(
                Issue(
                    Rule.M365_COVERAGE,
                    f"{name} is set for {carried} of {people} people ({percent:.1f}%); Microsoft 365 fails "
                    f"an upload carrying it unless {MIN_COVERAGE_PERCENT:g}% of the people have a value",
                    column=name,
                )
            )


def _name_group(view: pa.Table, lines: np.ndarray, report: ValidationReport) -> None:
    present = [name for name in NAME_GROUP if name in view.column_names]
    if not present:
        return
    set_counts = np.zeros(view.num_rows, dtype=np.int64)
    for name in present:
        set_counts += np.asarray(
            pc.is_valid(view.column(name)).to_numpy(zero_copy_only=False), dtype=np.int64
        )
    partial = np.nonzero((set_counts > 0) & (set_counts < len(NAME_GROUP)))[0]
    message = (
        f"{', '.join(NAME_GROUP)} are stored together: this person has some of them and not the others, so "
        "Microsoft 365 stores none of them"
    )
    sample = [
        Issue(Rule.M365_NAME_GROUP, message, row=int(lines[index])) for index in partial[:MAX_ISSUES_PER_RULE]
    ]
    report.add_found(len(partial), sample)


def _row_findings(
    view: pa.Table,
    name: str,
    bad: pa.Array | pa.ChunkedArray,
    lines: np.ndarray,
    rule: Rule,
    message: str,
    report: ValidationReport,
    *,
    keep_blank: bool = False,
) -> None:
    """One finding per row where `bad` holds; a blank value is a finding only with `keep_blank`."""
    flags = pc.fill_null(bad, keep_blank)
    if not keep_blank:
        flags = pc.and_(flags, pc.is_valid(view.column(name)))
    positions = np.nonzero(np.asarray(flags.to_numpy(zero_copy_only=False), dtype=bool))[0]
    if not len(positions):
        return
    shown = positions[:MAX_ISSUES_PER_RULE]
    values = view.column(name).take(pa.array(shown)).to_pylist()
    sample = [
        Issue(
            rule,
            f"{name} {message}" if value is not None else f"{name} is blank; it {message}",
            row=int(lines[at]),
            column=name,
            value=value,
        )
        for at, value in zip(shown, values, strict=True)
    ]
    report.add_found(len(positions), sample)
