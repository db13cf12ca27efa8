"""catalogue.py: one entry per rule, each with a severity and the documentation it comes from."""

from __future__ import annotations

import csv
import re

from target_viva_insights.catalogue import (
    FILE_RULES,
    FIRST_IMPORT,
    M365_SOURCES,
    PREPARE_ORG_DATA,
    THIS_PROJECT,
    Rule,
)
from target_viva_insights.validation.report import Issue, Severity, ValidationReport

KNOWN_SOURCES = {FILE_RULES, PREPARE_ORG_DATA, FIRST_IMPORT, THIS_PROJECT, *M365_SOURCES}


def test_every_entry_has_an_id_a_severity_and_a_source() -> None:
    ids = [rule.id for rule in Rule]
    assert len(ids) == len(set(ids))
    for rule in Rule:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", rule.id), rule.id
        assert isinstance(rule.severity, Severity)
        assert rule.source in KNOWN_SOURCES, (rule.id, rule.source)


def test_an_entry_stands_for_its_id() -> None:
    assert Rule("invalid-email") is Rule.INVALID_EMAIL
    assert Rule.INVALID_EMAIL == "invalid-email"
    assert "invalid-email" in {Rule.INVALID_EMAIL}
    assert f"{Rule.INVALID_EMAIL}" == str(Rule.INVALID_EMAIL) == "invalid-email"


def test_an_issue_takes_its_severity_from_the_catalogue(tmp_path) -> None:
    report = ValidationReport("data.csv")
    report.add(Issue(Rule.NEWLINE, "values may not contain line breaks", row=3, column="Note"))
    report.add(Issue(Rule.FEW_MONTHLY_SNAPSHOTS, "the data covers 1 month(s)"))
    assert [issue.severity for issue in report.issues] == [Severity.ERROR, Severity.WARNING]
    assert (report.count(Severity.ERROR), report.count(Severity.WARNING)) == (1, 1)
    assert "  error newline: 1" in report.summary_lines()
    with report.write_csv(tmp_path / "report.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [(row["severity"], row["rule"]) for row in rows] == [
        ("error", "newline"),
        ("warning", "few-monthly-snapshots"),
    ]


def test_every_rule_has_the_quality_reports_sentence_and_fix() -> None:
    from target_viva_insights.quality.advice import FIXES, SOURCE_SENTENCES

    missing = [rule.id for rule in Rule if not SOURCE_SENTENCES.get(rule) or not FIXES.get(rule)]
    assert not missing, f"add these rules to quality/advice.py: {missing}"
