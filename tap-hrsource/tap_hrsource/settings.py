"""The tap's settings and their per-stream, validated form."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from singer_sdk import typing as th

from tap_hrsource.errors import SettingsError

FILE_FORMATS = ("csv", "parquet", "jsonl", "xlsx")
COLUMN_TYPE_NAMES = ("string", "integer", "number", "boolean", "date", "date-time")
HISTORY_MODES = ("raw", "monthly_snapshots")

STREAM_SETTINGS = th.ObjectType(
    th.Property("name", th.StringType, required=True, description="Stream name, e.g. employees."),
    th.Property(
        "key_properties",
        th.ArrayType(th.StringType),
        description="Columns that identify a row; checked unique and non-null.",
    ),
    th.Property("path", th.StringType, description="Files: a file, a folder or a glob (** allowed)."),
    th.Property(
        "format",
        th.StringType(allowed_values=list(FILE_FORMATS)),
        description="Files: csv, parquet, jsonl or xlsx. Default: from the file extension.",
    ),
    th.Property("encoding", th.StringType, description="Files (CSV): text encoding. Default utf-8-sig."),
    th.Property(
        "delimiter",
        th.StringType,
        description="Files (CSV): ',', ';' or tab. Default: detected from the header.",
    ),
    th.Property(
        "date_formats",
        th.ArrayType(th.StringType),
        description="strptime formats tried for dates besides ISO, in order, e.g. ['%m/%d/%Y'].",
    ),
    th.Property(
        "column_types",
        th.ObjectType(additional_properties=th.StringType(allowed_values=list(COLUMN_TYPE_NAMES))),
        description="Column -> string|integer|number|boolean|date|date-time; overrides inference.",
    ),
    th.Property(
        "null_values", th.ArrayType(th.StringType), description="Strings read as null besides the empty one."
    ),
    th.Property("sqlalchemy_url", th.StringType, secret=True, description="SQL: SQLAlchemy database URL."),
    th.Property("table", th.StringType, description="SQL: table (or view) name, optionally schema.table."),
    th.Property("query", th.StringType, description="SQL: a SELECT statement (instead of table)."),
    th.Property("replication_key", th.StringType, description="SQL: column for incremental replication."),
    th.Property(
        "history",
        th.StringType(allowed_values=list(HISTORY_MODES)),
        description="raw (rows as the source has them) or monthly_snapshots. Default raw.",
    ),
    th.Property("person_key", th.StringType, description="History: the person column, e.g. PersonId."),
    th.Property("effective_date_column", th.StringType, description="History: the effective date column."),
    th.Property("months", th.IntegerType, description="History: number of monthly snapshots. Default 13."),
    th.Property(
        "end_date_column",
        th.StringType,
        description="History: termination date column; months after it are left out.",
    ),
    th.Property(
        "snapshot_end_date",
        th.DateType,
        description="History: the last snapshot's month (its month start is used). Default: this month.",
    ),
)

TAP_SETTINGS = th.PropertiesList(
    th.Property(
        "streams",
        th.ArrayType(STREAM_SETTINGS),
        required=True,
        description="One entry per stream: name, key_properties and one source (files or SQL).",
    ),
).to_dict()


@dataclass(frozen=True)
class HistorySettings:
    person_key: str
    effective_date_column: str
    months: int
    end_date_column: str | None
    snapshot_end_date: dt.date


@dataclass(frozen=True)
class StreamSettings:
    """One configured stream, checked for consistency."""

    name: str
    key_properties: tuple[str, ...] = ()
    path: str | None = None
    format: str | None = None
    encoding: str = "utf-8-sig"
    delimiter: str | None = None
    date_formats: tuple[str, ...] = ()
    column_types: dict[str, str] = field(default_factory=dict)
    null_values: tuple[str, ...] = ()
    sqlalchemy_url: str | None = None
    table: str | None = None
    query: str | None = None
    replication_key: str | None = None
    history: HistorySettings | None = None

    @property
    def is_sql(self) -> bool:
        return self.sqlalchemy_url is not None


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def parse_history(raw: dict[str, Any], name: str, today: dt.date) -> HistorySettings | None:
    mode = raw.get("history") or "raw"
    if mode == "raw":
        return None
    missing = [key for key in ("person_key", "effective_date_column") if not raw.get(key)]
    if missing:
        raise SettingsError(f"Stream {name!r}: history {mode!r} needs {', '.join(missing)}.")
    months = int(raw.get("months") or 13)
    if months < 1:
        raise SettingsError(f"Stream {name!r}: months must be at least 1, got {months}.")
    end = raw.get("snapshot_end_date")
    anchor = dt.date.fromisoformat(str(end)[:10]) if end else today
    return HistorySettings(
        person_key=raw["person_key"],
        effective_date_column=raw["effective_date_column"],
        months=months,
        end_date_column=raw.get("end_date_column") or None,
        snapshot_end_date=month_start(anchor),
    )


def parse_stream_settings(raw: dict[str, Any], today: dt.date | None = None) -> StreamSettings:
    """Turn one `streams` entry into StreamSettings, or raise a clear SettingsError."""
    name = raw.get("name") or ""
    if not name:
        raise SettingsError("Every entry in 'streams' needs a 'name'.")
    has_files, has_sql = bool(raw.get("path")), bool(raw.get("sqlalchemy_url"))
    if has_files == has_sql:
        raise SettingsError(f"Stream {name!r}: give exactly one source, either 'path' or 'sqlalchemy_url'.")
    if has_sql and bool(raw.get("table")) == bool(raw.get("query")):
        raise SettingsError(f"Stream {name!r}: an SQL stream needs exactly one of 'table' or 'query'.")
    if raw.get("replication_key") and not has_sql:
        raise SettingsError(
            f"Stream {name!r}: 'replication_key' is for SQL streams; files replicate by modification time."
        )
    history = parse_history(raw, name, today or dt.date.today())
    if history and raw.get("replication_key"):
        raise SettingsError(
            f"Stream {name!r}: monthly_snapshots read the full history every run; remove 'replication_key'."
        )
    return StreamSettings(
        name=name,
        key_properties=tuple(raw.get("key_properties") or ()),
        path=raw.get("path"),
        format=raw.get("format"),
        encoding=raw.get("encoding") or "utf-8-sig",
        delimiter=raw.get("delimiter"),
        date_formats=tuple(raw.get("date_formats") or ()),
        column_types=dict(raw.get("column_types") or {}),
        null_values=tuple(raw.get("null_values") or ()),
        sqlalchemy_url=raw.get("sqlalchemy_url"),
        table=raw.get("table"),
        query=raw.get("query"),
        replication_key=raw.get("replication_key"),
        history=history,
    )
