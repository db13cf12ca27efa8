"""Shared helpers for tap-hrsource's tests: run the tap in-process, parse its output, fill tables.

Imported by tests as `from hrsource_testing import ...`; fixtures stay in conftest.py.
"""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from tap_hrsource.tap import TapHRSource

REPO = Path(__file__).resolve().parents[2]
SAMPLE_CSV = REPO / "sample-data" / "hr" / "employees.csv"


@dataclass
class TapOutput:
    schemas: dict[str, dict] = field(default_factory=dict)
    records: dict[str, list[dict]] = field(default_factory=dict)
    states: list[dict] = field(default_factory=list)

    @property
    def final_state(self) -> dict:
        return self.states[-1]

    def of(self, stream: str) -> list[dict]:
        return self.records.get(stream, [])


def sync(config: dict, state: dict | None = None) -> TapOutput:
    """Sync every stream in-process and parse the Singer messages written to stdout."""
    tap = TapHRSource(config=config, state=state or {}, setup_mapper=True)
    stdout = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    with redirect_stdout(stdout):
        tap.sync_all()
        stdout.flush()
    stdout.seek(0)
    output = TapOutput()
    for line in stdout.read().splitlines():
        message = json.loads(line)
        if message["type"] == "SCHEMA":
            output.schemas[message["stream"]] = message["schema"]
        elif message["type"] == "RECORD":
            output.records.setdefault(message["stream"], []).append(message["record"])
        elif message["type"] == "STATE":
            output.states.append(message["value"])
    return output


def load_rows(url: str, table: str, columns: dict[str, sa.types.TypeEngine], rows: list[dict]) -> None:
    engine = sa.create_engine(url)
    metadata = sa.MetaData()
    target = sa.Table(table, metadata, *[sa.Column(name, kind) for name, kind in columns.items()])
    with engine.begin() as connection:
        metadata.drop_all(connection)
        metadata.create_all(connection)
        connection.execute(target.insert(), rows)
    engine.dispose()


@dataclass
class CommandResult:
    returncode: int
    stdout: str
    stderr: str

    @property
    def last_line(self) -> str:
        lines = self.stderr.strip().splitlines()
        return lines[-1] if lines else ""


def run_command(config: dict | Path, tmp_path: Path) -> CommandResult:
    """Run the installed `tap-hrsource` command (a real subprocess) with a config file."""
    import subprocess
    import sys

    if isinstance(config, dict):
        config_file = tmp_path / "config.json"
        config_file.write_text(json.dumps(config), encoding="utf-8")
    else:
        config_file = config
    command = Path(sys.executable).parent / "tap-hrsource"
    result = subprocess.run(
        [str(command), "--config", str(config_file)], capture_output=True, text=True, check=False, timeout=120
    )
    return CommandResult(result.returncode, result.stdout, result.stderr)
