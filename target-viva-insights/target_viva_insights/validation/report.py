"""Findings of the local validation and the report file that lists them."""

from __future__ import annotations

import csv
import dataclasses
from collections import Counter
from pathlib import Path

from target_viva_insights.catalogue import Rule, Severity
from target_viva_insights.private_files import private_file

__all__ = ["MAX_ISSUES_PER_RULE", "Issue", "Rule", "Severity", "ValidationReport"]

# Enough to show every problem of a realistic bad file without letting a systematic error
# (one wrong column in a million rows) grow the report without bound.
MAX_ISSUES_PER_RULE = 1000


@dataclasses.dataclass(frozen=True)
class Issue:
    """One finding of a catalogue rule. `row` is the line number in data.csv (the header is line 1)."""

    rule: Rule
    message: str
    row: int | None = None
    column: str | None = None
    value: str | None = None

    @property
    def severity(self) -> Severity:
        return self.rule.severity

    def describe(self) -> str:
        shown = "" if self.value is None else f" (value {self.value!r})"
        return f"{self.describe_without_value()}{shown}"

    @property
    def position(self) -> str:
        """Where the finding is: `row 3, column PersonId`, either part alone, or empty."""
        where = []
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column}")
        return ", ".join(where)

    def describe_without_value(self) -> str:
        """Where and what, for logs: values are personal data and stay in the report file."""
        prefix = f"{self.position}: " if self.position else ""
        return f"{prefix}{self.message}"


@dataclasses.dataclass
class ValidationReport:
    """All findings of one validation run; counts stay exact when the lists are capped."""

    source: str
    issues: list[Issue] = dataclasses.field(default_factory=list)
    counts: Counter[tuple[Severity, Rule]] = dataclasses.field(default_factory=Counter)
    rows_checked: int = 0

    def add(self, issue: Issue) -> None:
        key = (issue.severity, issue.rule)
        self.counts[key] += 1
        if self.counts[key] <= MAX_ISSUES_PER_RULE:
            self.issues.append(issue)

    def add_found(self, total: int, sample: list[Issue]) -> None:
        """Count `total` findings of one rule while keeping only the first few of them."""
        if not sample:
            return
        key = (sample[0].severity, sample[0].rule)
        room = max(MAX_ISSUES_PER_RULE - self.counts[key], 0)
        self.issues.extend(sample[:room])
        self.counts[key] += total

    def count(self, severity: Severity) -> int:
        return sum(n for (level, _), n in self.counts.items() if level is severity)

    @property
    def ok(self) -> bool:
        return self.count(Severity.ERROR) == 0

    @property
    def errors(self) -> list[Issue]:
        return [issue for issue in self.issues if issue.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Issue]:
        return [issue for issue in self.issues if issue.severity is Severity.WARNING]

    def first_of_each_warning(self) -> list[tuple[Issue, int, bool]]:
        """Each distinct warning (rule and column) once: its first finding by row, how many findings
        were kept like it, and whether the rule had more than were kept."""
        firsts: dict[tuple[Rule, str | None], Issue] = {}
        kept: Counter[tuple[Rule, str | None]] = Counter()
        for issue in sorted(self.warnings, key=_report_order):
            key = (issue.rule, issue.column)
            firsts.setdefault(key, issue)
            kept[key] += 1
        return [
            (issue, kept[key], self.counts[(issue.severity, issue.rule)] > MAX_ISSUES_PER_RULE)
            for key, issue in firsts.items()
        ]

    def summary_lines(self, limit: int = 10) -> list[str]:
        """Counts per rule and the first errors: what belongs in a log (no values)."""
        lines = [
            f"{self.source}: {self.rows_checked} rows checked, "
            f"{self.count(Severity.ERROR)} errors, {self.count(Severity.WARNING)} warnings"
        ]
        for (severity, rule), number in sorted(self.counts.items()):
            lines.append(f"  {severity.value} {rule}: {number}")
        return lines[: limit + 1]

    def write_csv(self, path: Path) -> Path:
        """Write every kept finding as CSV (severity, rule, row, column, value, message).

        The file holds personal data: it is readable by its owner only (0600, whatever the umask).
        It is meant to be opened in a spreadsheet, so text cells that a spreadsheet would run as a
        formula are neutralised (see `spreadsheet_safe`).
        """
        path.parent.mkdir(parents=True, exist_ok=True)
        with private_file(path) as handle:
            writer = csv.writer(handle)
            writer.writerow(["severity", "rule", "row", "column", "value", "message"])
            for issue in sorted(self.issues, key=_report_order):
                writer.writerow(
                    [
                        issue.severity.value,
                        issue.rule.id,
                        "" if issue.row is None else issue.row,
                        spreadsheet_safe(issue.column or ""),
                        "" if issue.value is None else spreadsheet_safe(issue.value),
                        spreadsheet_safe(issue.message),
                    ]
                )
        return path


# OWASP "CSV Injection": a cell starting with one of these is run as a formula by spreadsheets.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(text: str) -> str:
    """`text` with a leading single quote when a spreadsheet would read it as a formula.

    Only for the validation report: data.csv keeps every value exactly as it came (Viva reads it, no
    spreadsheet does).
    """
    return f"'{text}" if text.startswith(FORMULA_TRIGGERS) else text


def _report_order(issue: Issue) -> tuple[int, int, str]:
    return (0 if issue.severity is Severity.ERROR else 1, issue.row or 0, issue.column or "")
