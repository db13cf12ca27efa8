"""How the emulated Viva judges an upload: the target's own validator, made stricter or looser on demand.

The same rules as our pre-flight (`validation.validate_package`) would only confirm our own reading of
Microsoft's pages. `Strictness` (faults.py) lets a test make the emulated service disagree with the
pre-flight, the way the real service may: type tokens it does not know, rules it enforces that we only warn
about, rules we enforce that it does not check. The target must then fail cleanly: Viva's error file
downloaded, the data exit code, no STATE.

The verdict is the service's own, apart from our report: the severity of a finding is Viva's (a rule's
catalogue severity, unless the service is told to refuse it), and Viva's error file is written from it.
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import zipfile
from collections import Counter
from pathlib import Path

from target_viva_insights.catalogue import Rule
from target_viva_insights.emulator.faults import Strictness
from target_viva_insights.package import PackageError, open_package
from target_viva_insights.validation.report import Severity, ValidationReport
from target_viva_insights.validation.validator import validate_package

logger = logging.getLogger(__name__)

# Rule ids of the emulator's own findings (catalogue ids: rules only the service checks, the package).
SERVICE_RULE = Rule.SERVICE_RULE.id
UNKNOWN_TYPE_RULE = Rule.UNKNOWN_TYPE.id
PACKAGE_RULE = Rule.PACKAGE.id
ERROR_FILE_COLUMNS = ("severity", "rule", "row", "column", "value", "message")


@dataclasses.dataclass(frozen=True)
class Finding:
    """One line of Viva's error file."""

    severity: Severity
    rule: str
    message: str
    row: int | None = None
    column: str | None = None
    value: str | None = None


@dataclasses.dataclass
class Verdict:
    """What the emulated service found in an upload; any error fails the ingestion.

    Attributes:
        findings: The findings kept (our validator caps each rule's list).
        counts: Every finding counted by severity, kept or not.
    """

    findings: list[Finding] = dataclasses.field(default_factory=list)
    counts: Counter[Severity] = dataclasses.field(default_factory=Counter)

    def add(self, finding: Finding) -> None:
        self.findings.append(finding)
        self.counts[finding.severity] += 1

    @property
    def ok(self) -> bool:
        return self.counts[Severity.ERROR] == 0

    def write_csv(self, path: Path) -> Path:
        """Viva's error file: errors first, then by row and column (values are HR data: 0600 files)."""
        order = sorted(
            self.findings,
            key=lambda item: (item.severity is not Severity.ERROR, item.row or 0, item.column or ""),
        )
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(ERROR_FILE_COLUMNS)
            for item in order:
                row = "" if item.row is None else item.row
                value = "" if item.value is None else item.value
                writer.writerow([item.severity.value, item.rule, row, item.column or "", value, item.message])
        return path


def judge(package: Path, strictness: Strictness) -> Verdict:
    """The emulated service's verdict on an uploaded zip.

    Args:
        package: The uploaded zip, as kept by the emulator.
        strictness: How the service departs from the pre-flight.

    Returns:
        The verdict; Viva's error file is written from it when it holds an error.
    """
    verdict = Verdict()
    if strictness.reject:
        verdict.add(
            Finding(Severity.ERROR, SERVICE_RULE, "Rejected by the emulator (a rule only Viva checks).")
        )
        return verdict
    try:
        report = validate_package(package)
    except Exception as error:  # reported to the uploader like Viva's own failures, not a stuck ingestion
        logger.exception("Validation of %s crashed", package)
        verdict.add(Finding(Severity.ERROR, PACKAGE_RULE, f"The package could not be read: {error}"))
        return verdict
    _take_findings(verdict, report, strictness)
    for finding in _refused_tokens(package, strictness.refuse_tokens):
        verdict.add(finding)
    return verdict


def _take_findings(verdict: Verdict, report: ValidationReport, strictness: Strictness) -> None:
    """The pre-flight's findings as Viva makes them: ignored rules left out, refused rules as errors."""

    def severity(level: Severity, rule: str) -> Severity:
        return Severity.ERROR if rule in strictness.refuse_rules else level

    for (level, rule), number in report.counts.items():
        if str(rule) not in strictness.ignore_rules:
            verdict.counts[severity(level, str(rule))] += number
    verdict.findings += [
        Finding(
            severity(issue.severity, str(issue.rule)),
            str(issue.rule),
            issue.message,
            issue.row,
            issue.column,
            issue.value,
        )
        for issue in report.issues
        if str(issue.rule) not in strictness.ignore_rules
    ]


def _refused_tokens(package: Path, refused: frozenset[str]) -> list[Finding]:
    """An error for each mapped column whose type token the service is told it does not know."""
    if not refused:
        return []
    try:
        with open_package(package) as opened:
            fields = opened.fields
    except (OSError, PackageError, zipfile.BadZipFile):
        return []  # the validator has reported the unreadable package already
    return [
        Finding(
            Severity.ERROR,
            UNKNOWN_TYPE_RULE,
            f'metadata.json: the type "{field.token}" of column "{field.header}" is not known to Viva',
            column=field.header,
        )
        for field in fields
        if field.token in refused
    ]
