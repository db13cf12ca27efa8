"""SQL streams: a table or a query from any SQLAlchemy database, with types from the database.

A query's column types come from the database too: the query is defined as a temporary view inside a
transaction that is rolled back, and the view is reflected like a table.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from tap_hrsource.errors import DataValueError, HRSourceError, KeyPropertyError, SettingsError
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
from tap_hrsource.sql_values import CastError, Converter, caster, declared_type, with_nulls
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


def masked_url(url: sa.URL) -> str:
    """The URL as it may be shown in a message: the password replaced by ***."""
    return url.render_as_string(hide_password=True)


def is_sqlite_file(url: sa.URL) -> bool:
    """A SQLite URL naming a file path (not :memory: and not a file: URI with its own options)."""
    database = url.database or ""
    return (
        url.get_backend_name() == "sqlite"
        and database not in {"", ":memory:"}
        and (not database.startswith("file:"))
    )


def database_engine(settings: StreamSettings) -> Engine:
    """The engine for `sqlalchemy_url`, refusing a URL that cannot work before connecting.

    A SQLite file that does not exist is refused: SQLAlchemy would create an empty database and the
    run would report a missing table instead of a wrong path.
    """
    try:
        url = sa.make_url(settings.sqlalchemy_url or "")
    except sa.exc.ArgumentError:
        raise SettingsError(
            f"Stream {settings.name!r}: sqlalchemy_url is not a database URL "
            "(e.g. postgresql+psycopg2://user:password@host/db or sqlite:///path/to/hr.db)."
        ) from None
    where = f"Stream {settings.name!r} ({masked_url(url)})"
    if is_sqlite_file(url) and not Path(url.database or "").expanduser().is_file():
        raise SettingsError(f"{where}: the SQLite database {url.database} does not exist.")
    try:
        return sa.create_engine(url)
    except (ImportError, sa.exc.NoSuchModuleError) as error:
        raise SettingsError(
            f"{where}: the database driver is not installed ({error}); for PostgreSQL install "
            "tap-hrsource[postgres]."
        ) from None


@contextlib.contextmanager
def database_errors(where: str) -> Iterator[None]:
    """Turn a database failure into one line naming the stream and the URL (password masked)."""
    try:
        yield
    except sa.exc.NoSuchTableError as error:
        raise HRSourceError(f"{where}: no table or view named {str(error)!r}.") from None
    except sa.exc.DBAPIError as error:
        reason = str(error.orig).strip().splitlines()[0] if error.orig else type(error).__name__
        raise HRSourceError(f"{where}: the database refused or failed: {reason}") from None
    except sa.exc.SQLAlchemyError as error:
        first_line = str(error).strip().splitlines()[0]
        raise HRSourceError(f"{where}: {type(error).__name__}: {first_line}") from None


def check_date_formats_apply(settings: StreamSettings) -> None:
    """On SQL streams date_formats parse only the columns column_types declares date or date-time."""
    declared_dates = [name for name, kind in settings.column_types.items() if kind in {"date", "date-time"}]
    if settings.date_formats and not declared_dates:
        raise SettingsError(
            f"Stream {settings.name!r}: on an SQL stream, date_formats parse the text columns that "
            "column_types declares 'date' or 'date-time'; declare them (e.g. column_types: "
            '{"HireDate": "date"}) or remove date_formats.'
        )


class HRSQLStream(HRStream):
    """One table or query; incremental when `replication_key` is set."""

    def __init__(self, tap: Any, settings: StreamSettings) -> None:
        self.engine: Engine = database_engine(settings)
        self.where = f"Stream {settings.name!r} ({masked_url(self.engine.url)})"
        with database_errors(self.where), self.engine.connect() as connection:
            self.columns = reflect_columns(connection, settings)
        self.database_types = {column.name: column_type(column.type) for column in self.columns}
        self.column_types = self.database_types | {
            name: declared_type(kind) for name, kind in settings.column_types.items()
        }
        required = [*settings.key_properties, *history_columns(settings), *settings.column_types]
        required += [settings.replication_key] if settings.replication_key else []
        for name in required:
            if name not in self.database_types:
                raise HRSourceError(
                    f"Stream {settings.name!r}: column {name!r} is not in the table or query."
                )
        check_date_formats_apply(settings)
        super().__init__(tap, settings, json_schema(self.column_types, settings.key_properties))
        if settings.replication_key:
            self.replication_key = settings.replication_key

    def converters(self) -> list[Converter]:
        """One converter per column: the column_types cast if set, else the database type's."""
        nulls = frozenset(self.settings.null_values)
        result = []
        for name, column in self.column_types.items():
            if name in self.settings.column_types:
                result.append(with_nulls(caster(column, self.settings.date_formats), nulls))
            else:
                result.append(with_nulls(json_value_converter(column), nulls))
        return result

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
        json_format = self.database_types[column].json_format
        if isinstance(bookmark, str) and json_format == "date-time":
            return dt.datetime.fromisoformat(bookmark)
        if isinstance(bookmark, str) and json_format == "date":
            return dt.date.fromisoformat(bookmark[:10])
        return bookmark

    def typed_records(self, context: Mapping[str, Any] | None) -> Iterator[dict[str, Any]]:
        names = list(self.column_types)
        converters = self.converters()
        keys = [names.index(key) for key in self.settings.key_properties]
        with database_errors(self.where), self.engine.connect() as connection:
            self.check_keys(connection)
            result = connection.execution_options(stream_results=True, yield_per=ROWS_PER_FETCH).execute(
                self.select(context)
            )
            for row_number, row in enumerate(result, start=1):
                try:
                    values = [convert(value) for convert, value in zip(converters, row, strict=False)]
                except CastError:
                    raise self.value_error(row_number, row, converters) from None
                if keys and any(values[index] is None for index in keys):
                    empty = next(names[index] for index in keys if values[index] is None)
                    raise KeyPropertyError(
                        f"Stream {self.name!r}: row {row_number}, key property {empty!r} is empty "
                        "(after null_values)."
                    )
                yield dict(zip(names, values, strict=False))

    def value_error(self, row_number: int, row: Sequence[Any], converters: list[Converter]) -> DataValueError:
        """The error for the first value of a row that its column_types cast refuses."""
        for name, convert, value in zip(self.column_types, converters, row, strict=False):
            try:
                convert(value)
            except CastError:
                return DataValueError(
                    f"Stream {self.name!r} ({self.settings.table or 'query'})",
                    row_number,
                    name,
                    value,
                    self.column_types[name].label + " (column_types)",
                )
        raise AssertionError("value_error called for a row whose values all convert")  # pragma: no cover

    def get_records(self, context: Mapping[str, Any] | None) -> Iterable[dict[str, Any]]:
        records = self.typed_records(context)
        if self.settings.history:
            effective = self.column_types.get(self.settings.history.effective_date_column)
            records = self.snapshots(records, effective)
        yield from records
