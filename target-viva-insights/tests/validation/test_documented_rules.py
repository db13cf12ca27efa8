"""Hand-built packages, one per sentence of Microsoft's documentation, judged as the docs say Viva would.

Each folder of `tests/corpus/` holds `package/` (the zip's members, written by hand, never by the
target) and `case.json`: the sentence, the page it comes from, and the verdict expected here:
`valid` (no error), `warning` (no error, and the named rule warns) or `error` (the named rule fails
the package). `absent` lists rules that must not be reported at all, `known_people` the PersonIds
Viva already holds (incremental imports), `template` the customer's metadata template (a file of the
case), `expand` placeholders replaced by that many characters (values too long to keep in the
repository). Every case is judged by `validate_package`; the ones marked `cli` also by
`viva-insights validate` as a real process, and a sample of valid ones is uploaded to the emulator.
docs/viva-rules.md lists every rule with its cases; tests keep it, the corpus and the catalogue in step.
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
from target_viva_insights.catalogue import M365_SOURCES, THIS_PROJECT, Rule
from target_viva_insights.template import load_template
from target_viva_insights.validation.report import Severity, ValidationReport
from target_viva_insights.validation.validator import validate_package

CORPUS = Path(__file__).parents[1] / "corpus"
RULES_DOCUMENT = Path(__file__).parents[2] / "docs" / "viva-rules.md"
VERDICTS = ("valid", "warning", "error")
MIN_CASES = 60
DATA_ERROR_EXIT = 3
# Valid packages the emulator must take through the real upload: dates in forms we never write, the
# managers of Microsoft's example, a mapping in another order than data.csv, a header with a digit first.
UPLOADED = (
    "date-mdy-dashes-yy",
    "date-dmy-yyyy-dd-mm",
    "date-mdy-weekday-month-d-yyyy",
    "mgr-microsoft-valid-example",
    "pkg-mapping-other-order",
    "header-leading-digit",
)
# Invalid packages the emulator must refuse when the local check is skipped (rules new in this corpus).
REFUSED_BY_THE_EMULATOR = ("value-onsite-days-above-7", "header-reserved-metricdate")


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    sentence: str
    page: str
    verdict: str
    rule: str | None = None
    absent: tuple[str, ...] = ()
    known_people: tuple[str, ...] | None = None
    template: str | None = None
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
            template=spec.get("template"),
            cli=bool(spec.get("cli", False)),
            expand=dict(spec.get("expand", {})),
        )

    @property
    def template_path(self) -> Path | None:
        return None if self.template is None else CORPUS / self.name / self.template

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


CASES = [Case.load(folder) for folder in sorted(CORPUS.iterdir()) if (folder / "case.json").is_file()]
BY_NAME = {case.name: case for case in CASES}
CLI_CASES = [case for case in CASES if case.cli]


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


def run_cli(*arguments: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if "VIVA_INSIGHTS_" not in key}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "target_viva_insights.cli", *arguments],
        capture_output=True,
        text=True,
        env=environment,
        timeout=120,
        check=False,
    )


def test_the_corpus_is_complete_and_described() -> None:
    assert len(CASES) >= MIN_CASES
    for case in CASES:
        assert case.sentence.strip() and case.page.strip(), case.name
        assert case.verdict in VERDICTS, case.name
        assert (case.rule is None) == (case.verdict == "valid"), case.name
        assert (CORPUS / case.name / "package").is_dir(), case.name
        assert case.template_path is None or case.template_path.is_file(), case.name
    assert {case.verdict for case in CLI_CASES} == set(VERDICTS)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_validate_package_follows_the_documentation(case: Case, tmp_path: Path) -> None:
    package = case.build(tmp_path)
    report = validate_package(
        package,
        known_people=None if case.known_people is None else set(case.known_people),
        template=None if case.template_path is None else load_template(case.template_path),
    )
    assert problems_with(report, case) == [], f"{case.page}: {case.sentence}"


@pytest.mark.parametrize("case", CLI_CASES, ids=[case.name for case in CLI_CASES])
def test_the_validate_command_follows_the_documentation(case: Case, tmp_path: Path) -> None:
    package = case.build(tmp_path)
    template = [] if case.template_path is None else ["--template", str(case.template_path)]
    result = run_cli("validate", str(package), "--output-dir", str(tmp_path), *template)

    expected_exit = DATA_ERROR_EXIT if case.verdict == "error" else 0
    assert result.returncode == expected_exit, result.stderr
    if case.rule is not None:
        severity = "error" if case.verdict == "error" else "warning"
        assert f"{severity} {case.rule}:" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_emulator_takes_valid_documented_packages(emulator, tmp_path: Path) -> None:
    """`viva-insights upload` checks locally, the emulator judges again: both accept these."""
    env = {f"VIVA_INSIGHTS_{name.upper()}": str(value) for name, value in emulator.config().items() if value}
    for name in UPLOADED:
        case = BY_NAME[name]
        result = run_cli("upload", str(case.build(tmp_path)), "--output-dir", str(tmp_path), env=env)
        assert result.returncode == 0, (name, result.stderr)
        assert json.loads(result.stdout)["Status"] == "Completed", name


def test_the_emulator_refuses_newly_documented_errors(emulator, tmp_path: Path) -> None:
    """Uploaded without the local check, Viva's stand-in fails them: the rules are not only local."""
    env = {f"VIVA_INSIGHTS_{name.upper()}": str(value) for name, value in emulator.config().items() if value}
    for name in REFUSED_BY_THE_EMULATOR:
        package = BY_NAME[name].build(tmp_path)
        result = run_cli("upload", str(package), "--skip-validation", "--output-dir", str(tmp_path), env=env)
        assert result.returncode == DATA_ERROR_EXIT, (name, result.stderr)


def _documented_rules() -> dict[str, set[str]]:
    """Rule id -> case names, from the rules tables of docs/viva-rules.md (`rule-id` | ... | cases)."""
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


def test_the_catalogue_and_the_rules_document_agree() -> None:
    """Every rule from Microsoft's pages is documented with its severity; every documented rule exists."""
    documented = _documented_rules()
    severities = _documented_severities()
    for rule in Rule:
        # The m365 destination's rules are documented in target-viva-insights/docs/m365-rules.md.
        if rule.source != THIS_PROJECT and rule is not Rule.PACKAGE and rule.source not in M365_SOURCES:
            assert rule.id in documented, f"{rule.id} ({rule.source}) has no row in docs/viva-rules.md"
    for rule_id, severity in severities.items():
        assert Rule(rule_id).severity.value[0].upper() == severity, f"{rule_id}: the document says {severity}"


def _documented_severities() -> dict[str, str]:
    """Rule id -> E or W, from the "Sev." column of the rules tables."""
    severities = {}
    for line in RULES_DOCUMENT.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^\|\s*`([a-z0-9-]+)`\s*\|", line)
        if match:
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            severities[match.group(1)] = cells[3]
    return severities
