"""The Singer SDK's standard tap tests, for a file stream (the sample data) and an SQL stream (SQLite)."""

from __future__ import annotations

import atexit
import datetime as dt
import shutil
import tempfile
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from singer_sdk.testing import SuiteConfig, get_tap_test_class
from tap_hrsource.tap import TapHRSource

SAMPLE_CSV = Path(__file__).resolve().parents[2] / "sample-data" / "hr" / "employees.csv"

FILE_CONFIG = {
    "streams": [
        {
            "name": "employees",
            "path": str(SAMPLE_CSV),
            "key_properties": ["PersonId", "EffectiveDate"],
        },
        {
            "name": "employees_snapshots",
            "path": str(SAMPLE_CSV),
            "key_properties": ["PersonId", "EffectiveDate"],
            "history": "monthly_snapshots",
            "person_key": "PersonId",
            "effective_date_column": "EffectiveDate",
            "end_date_column": "TerminationDate",
            "snapshot_end_date": "2026-10-01",
        },
    ]
}


def sqlite_database() -> str:
    """A real SQLite file with HR rows; the standard suite needs its config when the module loads."""
    folder = Path(tempfile.mkdtemp(prefix="tap-hrsource-sqlite-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    url = f"sqlite:///{folder / 'hr.db'}"
    columns = {
        "EmployeeNumber": sa.String(10),
        "PersonId": sa.String(100),
        "Layer": sa.Integer(),
        "HourlyRate": sa.Numeric(10, 2),
        "HireDate": sa.Date(),
        "UpdatedAt": sa.DateTime(),
        "IsManager": sa.Boolean(),
    }
    rows = [
        {
            "EmployeeNumber": f"{number:06d}",
            "PersonId": f"person{number}@contoso.com",
            "Layer": number % 5,
            "HourlyRate": Decimal(f"{20 + number / 4:.2f}"),
            "HireDate": dt.date(2020, 1, 1) + dt.timedelta(days=number),
            "UpdatedAt": dt.datetime(2026, 1, 1, 8) + dt.timedelta(hours=number),
            "IsManager": number % 7 == 0,
        }
        for number in range(1, 51)
    ]
    engine = sa.create_engine(url)
    metadata = sa.MetaData()
    table = sa.Table("employees", metadata, *[sa.Column(name, kind) for name, kind in columns.items()])
    with engine.begin() as connection:
        metadata.create_all(connection)
        connection.execute(table.insert(), rows)
    engine.dispose()
    return url


SQL_CONFIG = {
    "streams": [
        {
            "name": "employees_sql",
            "sqlalchemy_url": sqlite_database(),
            "table": "employees",
            "key_properties": ["PersonId"],
            "replication_key": "UpdatedAt",
        }
    ]
}

TestTapHRSourceFiles = get_tap_test_class(TapHRSource, config=FILE_CONFIG, suite_config=SuiteConfig())
TestTapHRSourceSQL = get_tap_test_class(TapHRSource, config=SQL_CONFIG, suite_config=SuiteConfig())
