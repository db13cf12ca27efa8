"""How the emulated Viva judges an upload: the target's own validator, made stricter or looser on demand.

The same rules as our pre-flight (`validation.validate_package`) would only confirm our own reading of
Microsoft's pages. `Strictness` lets a test make the emulated service disagree with the pre-flight, the
way the real service may: type tokens it does not know, rules it enforces that we only warn about, rules
we enforce that it does not check. The target must then fail cleanly: Viva's error file downloaded, the
data exit code, no STATE.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import zipfile
from collections import Counter
from pathlib import Path

from target_viva_insights.emulator.faults import Strictness
from target_viva_insights.report import Issue, Severity, ValidationReport
from target_viva_insights.validation import validate_package

logger = logging.getLogger(__name__)

METADATA_FILE = "metadata.json"
# Rule ids of the emulator's own findings (rules only the service checks).
SERVICE_RULE = "service-rule"
UNKNOWN_TYPE_RULE = "unknown-type"
PACKAGE_RULE = "package"


def judge(package: Path, strictness: Strictness) -> ValidationReport:
    """The emulated service's findings on an uploaded zip; errors make the ingestion fail.

    Args:
        package: The uploaded zip, as kept by the emulator.
        strictness: How the service departs from the pre-flight.

    Returns:
        The findings, written as Viva's error file when they hold an error.
    """
    if strictness.reject:
        report = ValidationReport(package.name)
        report.add(Issue(Severity.ERROR, SERVICE_RULE, "Rejected by the emulator (a rule only Viva checks)."))
        return report
    try:
        report = validate_package(package)
    except Exception as error:  # reported to the uploader like Viva's own failures, not a stuck ingestion
        logger.exception("Validation of %s crashed", package)
        report = ValidationReport(package.name)
        report.add(Issue(Severity.ERROR, PACKAGE_RULE, f"The package could not be read: {error}"))
        return report
    report = _departed(report, strictness)
    for issue in _refused_tokens(package, strictness.refuse_tokens):
        report.add(issue)
    return report


def _departed(report: ValidationReport, strictness: Strictness) -> ValidationReport:
    """The pre-flight's findings without the ignored rules, with the refused rules' warnings as errors."""
    if not strictness.refuse_rules and not strictness.ignore_rules:
        return report

    def severity(level: Severity, rule: str) -> Severity:
        return Severity.ERROR if rule in strictness.refuse_rules else level

    departed = ValidationReport(report.source, rows_checked=report.rows_checked, counts=Counter())
    for (level, rule), number in report.counts.items():
        if rule not in strictness.ignore_rules:
            departed.counts[(severity(level, rule), rule)] += number
    departed.issues = [
        dataclasses.replace(issue, severity=severity(issue.severity, issue.rule))
        for issue in report.issues
        if issue.rule not in strictness.ignore_rules
    ]
    return departed


def _refused_tokens(package: Path, refused: frozenset[str]) -> list[Issue]:
    """An error for each mapped column whose type token the service is told it does not know."""
    if not refused:
        return []
    try:
        with zipfile.ZipFile(package) as archive:
            mapping = json.loads(archive.read(METADATA_FILE).decode("utf-8-sig"))["Mapping"]
    except (OSError, KeyError, TypeError, ValueError, zipfile.BadZipFile):
        return []  # the validator has reported the unreadable metadata already
    return [
        Issue(
            Severity.ERROR,
            UNKNOWN_TYPE_RULE,
            f'metadata.json: the type "{target["type"]}" of column "{header}" is not known to Viva',
            column=str(header),
        )
        for header, target in mapping.items()
        if isinstance(target, dict) and target.get("type") in refused
    ]
