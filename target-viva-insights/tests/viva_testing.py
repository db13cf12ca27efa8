"""Helpers shared by the target's tests: Singer input built from small HR tables, the outcome of a run,
the target as a real process. Fixtures live in conftest.py."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

STREAM = "employees"

HR_PROPERTIES: dict[str, Any] = {
    "PersonId": {"type": "string"},
    "ManagerId": {"type": ["string", "null"]},
    "Organization": {"type": "string"},
    "EffectiveDate": {"type": "string", "format": "date"},
    "Layer": {"type": ["integer", "null"]},
}


def hr_schema(extra: dict[str, Any] | None = None, drop: Iterable[str] = ()) -> dict[str, Any]:
    properties = {name: spec for name, spec in HR_PROPERTIES.items() if name not in set(drop)}
    return {"type": "object", "properties": {**properties, **(extra or {})}}


def small_org(date: str = "2025-01-01") -> list[dict[str, Any]]:
    """A valid org chart: a CEO, two managers, three reports."""
    people = [
        ("ceo@contoso.com", None, "Executive", 0),
        ("ana@contoso.com", "ceo@contoso.com", "Sales", 1),
        ("bo@contoso.com", "ceo@contoso.com", "Engineering", 1),
        ("cy@contoso.com", "ana@contoso.com", "Sales", 2),
        ("di@contoso.com", "bo@contoso.com", "Engineering", 2),
        ("ed@contoso.com", "bo@contoso.com", "Engineering", 2),
    ]
    return [
        {"PersonId": p, "ManagerId": m, "Organization": o, "EffectiveDate": date, "Layer": layer}
        for p, m, o, layer in people
    ]


def singer_lines(
    schema: dict[str, Any],
    records: Iterable[dict[str, Any]],
    *,
    stream: str = STREAM,
    key_properties: list[str] | None = None,
    state: dict[str, Any] | None = None,
) -> str:
    messages: list[dict[str, Any]] = [
        {"type": "SCHEMA", "stream": stream, "schema": schema, "key_properties": key_properties or []}
    ]
    messages += [{"type": "RECORD", "stream": stream, "record": record} for record in records]
    if state is not None:
        messages.append({"type": "STATE", "value": state})
    return "".join(json.dumps(message) + "\n" for message in messages)


@dataclasses.dataclass
class Outcome:
    output_dir: Path
    error: BaseException | None
    stdout: str

    @property
    def packages(self) -> list[Path]:
        return sorted(self.output_dir.glob("viva-insights-*.zip"))

    @property
    def report_rows(self) -> list[dict[str, str]]:
        import csv

        reports = sorted(self.output_dir.glob("viva-insights-*-validation.csv"))
        assert len(reports) == 1, reports
        with reports[0].open(encoding="utf-8", newline="") as handle:
            return list(csv.DictReader(handle))

    def findings(self, rule: str) -> list[dict[str, str]]:
        return [row for row in self.report_rows if row["rule"] == rule]

    def data_csv(self) -> bytes:
        (package,) = self.packages
        with zipfile.ZipFile(package) as archive:
            return archive.read("data.csv")

    def metadata(self) -> dict[str, Any]:
        (package,) = self.packages
        with zipfile.ZipFile(package) as archive:
            return json.loads(archive.read("metadata.json"))


def run_target_process(
    config: dict[str, Any], lines: str, tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    """The installed `target-viva-insights` command as a real process."""
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config))
    command = [str(Path(sys.executable).parent / "target-viva-insights"), "--config", str(config_path)]
    return subprocess.run(command, input=lines, capture_output=True, text=True, timeout=120, check=False)
