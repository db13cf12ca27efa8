"""Hand-built packages, one per sentence of Microsoft's documentation, judged as the docs say Viva would.

Each folder of `tests/corpus/` holds `package/` (the zip's members, written by hand, never by the
target) and `case.json`: the sentence, the page it comes from, and the verdict expected here:
`valid` (no error), `warning` (no error, and the named rule warns) or `error` (the named rule fails
the package). `absent` lists rules that must not be reported at all, `known_people` the PersonIds
Viva already holds (incremental imports), `expand` placeholders replaced by that many characters
(values too long to keep in the repository). Every case is judged by `validate_package`; the ones
marked `cli` also by `viva-insights validate` as a real process. docs/viva-rules.md lists every rule
with its cases; a test keeps the two in step.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from target_viva_insights.report import Severity, ValidationReport
from target_viva_insights.validation import validate_package

CORPUS = Path(__file__).parent / "corpus"
RULES_DOCUMENT = Path(__file__).parents[2] / "docs" / "viva-rules.md"
VERDICTS = ("valid", "warning", "error")
MIN_CASES = 60
DATA_ERROR_EXIT = 3


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    sentence: str
    page: str
    verdict: str
    rule: str | None = None
    absent: tuple[str, ...] = ()
    known_people: tuple[str, ...] | None = None
    cli: bool = False
    expand: dict[str, int] = dataclasses.field(default_factory=dict)

    @classmethod
    def load(cls, folder: Path) -> Case:
        spec: dict[str, Any] = json.loads((folder / "case.json").read_text(encoding="utf-8"))
        known = spec.get("known_people")
        return cls(
            name=folder.name,
            sentence=spec["sentence"],
            page=spec["page"],
            verdict=spec["verdict"],
            rule=spec.get("rule"),
            absent=tuple(spec.get("absent", ())),
            known_people=None if known is None else tuple(known),
            cli=bool(spec.get("cli", False)),
            expand=dict(spec.get("expand", {})),
        )

    def build(self, folder: Path) -> Path:
        """The zip of the case's members, placeholders expanded."""
        members = CORPUS / self.name / "package"
        target = folder / f"{self.name}.zip"
        with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(members.rglob("*")):
                if path.is_file():
                    archive.writestr(path.relative_to(members).as_posix(), self._expanded(path.read_bytes()))
        return target

    def _expanded(self, content: bytes) -> bytes:
        for placeholder, length in self.expand.items():
            content = content.replace(placeholder.encode(), b"x" * length)
        return content


# Cases the validator does not agree with yet: the rule work of issue 8 removes them one by one.
NOT_YET_AGREED = frozenset(
    {
        "date-dmy-iso-looking",
        "file-not-utf8",
        "file-ragged-row",
        "header-contains-microsoft",
        "header-duplicate",
        "header-empty",
        "header-hyphen",
        "header-leading-digit",
        "header-microsoft-prefix",
        "header-non-ascii-letter",
        "header-onsitedays-renamed",
        "header-reserved-metricdate",
        "header-reserved-primarycollaborator-personid",
        "header-reserved-secondarycollaborator-personid",
        "header-space",
        "header-symbol-from-error-table",
        "header-system-field",
        "header-system-field-other-case",
        "header-system-name-as-source-only",
        "header-timezone",
        "header-trailing-space",
        "mgr-co-leaders",
        "mgr-incremental-new-hires",
        "mgr-incremental-new-hires-known-managers",
        "mgr-microsoft-valid-example",
        "mgr-same-person-date-twice",
        "pkg-csv-column-not-mapped",
        "pkg-dataset-type-not-hr",
        "pkg-date-order-per-field",
        "pkg-documented-date-type-name",
        "pkg-empty-csv",
        "pkg-empty-json",
        "pkg-extra-file",
        "pkg-invalid-json",
        "pkg-isbootstrap-other-value",
        "pkg-mapping-empty-name",
        "pkg-mapping-field-not-in-csv",
        "pkg-mapping-missing-type",
        "pkg-mapping-other-order",
        "pkg-mapping-unlisted-type",
        "pkg-members-in-folder",
        "pkg-missing-metadata",
        "pkg-renamed-members",
        "req-no-effective-date-column",
        "snap-incremental-since-last-upload",
        "value-layer-negative",
        "value-onsite-days-above-7",
        "value-onsite-days-negative",
        "value-supervisor-indicator-other",
    }
)


CASES = [Case.load(folder) for folder in sorted(CORPUS.iterdir()) if (folder / "case.json").is_file()]
CLI_CASES = [case for case in CASES if case.cli]


def _params(cases: list[Case]) -> list[Any]:
    pending = pytest.mark.xfail(
        strict=True, reason="the validator disagrees with this documented case (issue 8)"
    )
    return [
        pytest.param(case, id=case.name, marks=[pending] if case.name in NOT_YET_AGREED else [])
        for case in cases
    ]


def problems_with(report: ValidationReport, case: Case) -> list[str]:
    """How the report disagrees with the case's expectation (empty when it agrees)."""
    errors = {issue.rule for issue in report.issues if issue.severity is Severity.ERROR}
    warnings = {issue.rule for issue in report.issues if issue.severity is Severity.WARNING}
    problems = []
    if case.verdict == "error":
        if case.rule not in errors:
            problems.append(f"expected error {case.rule}, got errors {sorted(errors)}")
    elif errors:
        problems.append(f"expected no error, got {[issue.describe() for issue in report.errors][:5]}")
    if case.verdict == "warning" and case.rule not in warnings:
        problems.append(f"expected warning {case.rule}, got warnings {sorted(warnings)}")
    reported = errors | warnings
    problems.extend(f"{rule} must not be reported" for rule in case.absent if rule in reported)
    return problems


def test_the_corpus_is_complete_and_described() -> None:
    assert len(CASES) >= MIN_CASES
    for case in CASES:
        assert case.sentence.strip() and case.page.strip(), case.name
        assert case.verdict in VERDICTS, case.name
        assert (case.rule is None) == (case.verdict == "valid"), case.name
        assert (CORPUS / case.name / "package").is_dir(), case.name
    assert {case.verdict for case in CLI_CASES} == set(VERDICTS)


@pytest.mark.parametrize("case", _params(CASES))
def test_validate_package_follows_the_documentation(case: Case, tmp_path: Path) -> None:
    package = case.build(tmp_path)
    if case.known_people is None:
        report = validate_package(package)
    else:
        report = validate_package(package, known_people=set(case.known_people))
    assert problems_with(report, case) == [], f"{case.page}: {case.sentence}"


@pytest.mark.parametrize("case", _params(CLI_CASES))
def test_the_validate_command_follows_the_documentation(case: Case, tmp_path: Path) -> None:
    package = case.build(tmp_path)
    environment = {key: value for key, value in os.environ.items() if "VIVA_INSIGHTS_" not in key}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "target_viva_insights.cli",
            "validate",
            str(package),
            "--output-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )
    expected_exit = DATA_ERROR_EXIT if case.verdict == "error" else 0
    assert result.returncode == expected_exit, result.stderr
    if case.rule is not None:
        severity = "error" if case.verdict == "error" else "warning"
        assert f"{severity} {case.rule}:" in result.stderr
    assert "Traceback" not in result.stderr


def _documented_rules() -> dict[str, set[str]]:
    """Rule id -> case names, from the rules table of docs/viva-rules.md (`rule-id` | ... | cases)."""
    table: dict[str, set[str]] = {}
    for line in RULES_DOCUMENT.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^\|\s*`([a-z0-9-]+)`\s*\|", line)
        if match:
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            table[match.group(1)] = set(re.findall(r"`([a-z0-9-]+)`", cells[-1]))
    return table


def test_every_documented_rule_has_a_case_and_every_case_a_rule() -> None:
    documented = _documented_rules()
    names = {case.name for case in CASES}
    assert documented, "docs/viva-rules.md has no rules table"
    for rule, cases in documented.items():
        assert cases, f"{rule} has no case in docs/viva-rules.md"
        assert cases <= names, f"{rule} names cases that do not exist: {sorted(cases - names)}"
    listed = set().union(*documented.values())
    assert names <= listed, f"cases not listed in docs/viva-rules.md: {sorted(names - listed)}"
    for case in CASES:
        if case.rule is not None:
            assert case.rule in documented, f"{case.name}: rule {case.rule} is not in docs/viva-rules.md"
            assert case.name in documented[case.rule], f"{case.name} is not listed under {case.rule}"
