"""SQL streams: a table or a query from any SQLAlchemy database, with types from the database.

A query's column types come from the database too: the query is defined as a temporary view inside a
transaction that is rolled back, and the view is reflected like a table.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from tap_hrsource.errors import HRSourceError, KeyPropertyError
from tap_hrsource.inference import (
    BOOLEAN,
    INTEGER,
    ISO_DATE,
    ISO_DATETIME,
    NUMBER,
    STRING,
    ColumnType,
    json_schema,
)
from tap_hrsource.settings import StreamSettings
from tap_hrsource.streams import HRStream, history_columns

ROWS_PER_FETCH = 10_000
QUERY_VIEW = "tap_hrsource_query_columns"


def column_type(sql_type: sa.types.TypeEngine) -> ColumnType:
    """The JSON Schema type for a database column type (datetime before date: it subclasses it)."""
    checks: list[tuple[type, ColumnType]] = [
        (sa.Boolean, BOOLEAN),
        (sa.Integer, INTEGER),
        (sa.Numeric, NUMBER),
        (sa.DateTime, ISO_DATETIME),
        (sa.Date, ISO_DATE),
    ]
    for sql_class, json_type in checks:
        if isinstance(sql_type, sql_class):
            return json_type
    return STRING


def json_value_converter(column: ColumnType) -> Callable[[Any], Any]:
    """How a database value becomes a JSON-ready value of the column's schema type."""
    if column.json_format in {"date", "date-time"}:
        return lambda value: value.isoformat() if isinstance(value, (dt.date, dt.datetime)) else value
    if column == NUMBER:
        return lambda value: (
            value if isinstance(value, (Decimal, float, int)) or value is None else Decimal(value)
        )
    if column == BOOLEAN:  # drivers without a boolean type (SQLite) return 0/1
        return lambda value: value if value is None else bool(value)
    if column == STRING:
        return lambda value: value if isinstance(value, str) or value is None else str(value)
    return lambda value: value


def reflect_columns(connection: Connection, settings: StreamSettings) -> list[sa.Column]:
    if settings.table:
        schema, _, name = settings.table.rpartition(".")
        table = sa.Table(name, sa.MetaData(), autoload_with=connection, schema=schema or None)
        return list(table.columns)
    transaction = connection.begin()
    try:
        connection.execute(sa.text(f"CREATE TEMPORARY VIEW {QUERY_VIEW} AS {settings.query}"))
        view = sa.Table(QUERY_VIEW, sa.MetaData(), autoload_with=connection)
        columns = [sa.Column(column.name, column.type) for column in view.columns]
    finally:
        transaction.rollback()  # the view was only needed for its column types
    if connection.dialect.name == "sqlite":  # SQLite keeps a temporary view despite the rollback
        connection.execute(sa.text(f"DROP VIEW IF EXISTS temp.{QUERY_VIEW}"))
        connection.commit()
    return columns


class HRSQLStream(HRStream):
    """One table or query; incremental when `replication_key` is set."""

    def __init__(self, tap: Any, settings: StreamSettings) -> None:
        self.engine: Engine = sa.create_engine(settings.sqlalchemy_url or "")
        with self.engine.connect() as connection:
            self.columns = reflect_columns(connection, settings)
        self.column_types = {column.name: column_type(column.type) for column in self.columns}
        required = [*settings.key_properties, *history_columns(settings)]
        required += [settings.replication_key] if settings.replication_key else []
        for name in required:
            if name not in self.column_types:
                raise HRSourceError(
                    f"Stream {settings.name!r}: column {name!r} is not in the table or query."
                )
        super().__init__(tap, settings, json_schema(self.column_types, settings.key_properties))
        if settings.replication_key:
            self.replication_key = settings.replication_key

    @property
    def is_sorted(self) -> bool:
        """Rows come ordered by the replication key, so an interrupted sync can resume."""
        return self.replication_key is not None

    def source(self) -> sa.FromClause:
        if self.settings.table:
            schema, _, name = self.settings.table.rpartition(".")
            columns = [sa.column(c.name, c.type) for c in self.columns]
            return sa.table(name, *columns, schema=schema or None).alias("src")
        return sa.text(self.settings.query or "").columns(*self.columns).subquery("src")

    def check_keys(self, connection: Connection) -> None:
        """Key properties non-null and unique, checked by the database before any record is sent."""
        keys = self.settings.key_properties
        if not keys:
            return
        source = self.source()
        key_columns = [source.c[name] for name in keys]
        for column in key_columns:
            empty = connection.execute(sa.select(sa.func.count()).where(column.is_(None))).scalar()
            if empty:
                raise KeyPropertyError(
                    f"Stream {self.name!r}: {empty} rows have an empty key property {column.name!r}."
                )
        repeated = connection.execute(
            sa.select(*key_columns, sa.func.count().label("rows"))
            .group_by(*key_columns)
            .having(sa.func.count() > 1)
            .limit(1)
        ).first()
        if repeated is not None:
            key = tuple(repeated)[:-1]
            raise KeyPropertyError(
                f"Stream {self.name!r}: key ({', '.join(keys)}) = {key!r} appears {repeated[-1]} times."
            )

    def select(self, context: Mapping[str, Any] | None) -> sa.Select:
        source = self.source()
        statement = sa.select(source)
        if self.replication_key:
            key_column = source.c[self.replication_key]
            start = self.get_starting_replication_key_value(context)
            if start is not None:
                statement = statement.where(key_column >= self.as_column_value(self.replication_key, start))
            statement = statement.order_by(key_column)
        return statement

    def as_column_value(self, column: str, bookmark: Any) -> Any:
        """The bookmark (ISO text in the state) as a value of the column's type.

        Comparing as text would go wrong where the database stores dates as text in another form
        (SQLite writes '2026-03-03 09:00:00' where the bookmark says '2026-03-03T09:00:00').
        """
        json_format = self.column_types[column].json_format
        if isinstance(bookmark, str) and json_format == "date-time":
            return dt.datetime.fromisoformat(bookmark)
        if isinstance(bookmark, str) and json_format == "date":
            return dt.date.fromisoformat(bookmark[:10])
        return bookmark

    def typed_records(self, context: Mapping[str, Any] | None) -> Iterator[dict[str, Any]]:
        names = list(self.column_types)
        converters = [json_value_converter(self.column_types[name]) for name in names]
        with self.engine.connect() as connection:
            self.check_keys(connection)
            result = connection.execution_options(stream_results=True, yield_per=ROWS_PER_FETCH).execute(
                self.select(context)
            )
            for row in result:
                yield {
                    name: convert(value) for name, convert, value in zip(names, converters, row, strict=False)
                }

    def get_records(self, context: Mapping[str, Any] | None) -> Iterable[dict[str, Any]]:
        records = self.typed_records(context)
        if self.settings.history:
            effective = self.column_types.get(self.settings.history.effective_date_column)
            records = self.snapshots(records, effective)
        yield from records
