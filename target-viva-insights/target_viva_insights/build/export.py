"""The run's export: records in, formatted and validated data.csv out, ready to package.

The sink hands every batch here. Rows are formatted to text, checked by the validator and appended to
data.csv in a private work directory. If the stream's schema changes the columns mid-run, rows go on
into a new part and the parts are merged (union of columns) and validated again at the end.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from target_viva_insights.build import mapping
from target_viva_insights.build.formatting import format_batch
from target_viva_insights.build.mapping import Column, MappingError
from target_viva_insights.catalogue import Rule
from target_viva_insights.import_mode import ImportMode
from target_viva_insights.ledger.held import HeldOrganization
from target_viva_insights.log_text import printable
from target_viva_insights.package import CsvField, DataCsvWriter, open_data_csv, read_text_batches
from target_viva_insights.rules import DateOrder
from target_viva_insights.settings import RunSettings
from target_viva_insights.template import MetadataTemplate, load_template
from target_viva_insights.validation.report import Issue, ValidationReport
from target_viva_insights.validation.validator import DataValidator, validate_data_csv

# The mapping's notes are logged under its own name, as `mapping.build_columns` does.
_logger = logging.getLogger(mapping.__name__)


@dataclasses.dataclass(frozen=True)
class ExportSettings:
    """The settings that shape data.csv and metadata.json (the target's settings of the same names)."""

    column_mapping: Mapping[str, str]
    field_types: Mapping[str, str]
    exclude_columns: Sequence[str]
    date_order: DateOrder
    import_mode: ImportMode
    check_types: bool
    template: MetadataTemplate | None = None

    @classmethod
    def for_run(cls, settings: RunSettings, judged_as: ImportMode) -> ExportSettings:
        """The export settings of a run whose file is judged as `judged_as` (FULL or INCREMENTAL).

        Raises:
            ConfigurationError: `metadata_template` cannot be read as a template.
        """
        return cls(
            column_mapping=dict(settings.column_mapping),
            field_types=dict(settings.field_types),
            exclude_columns=list(settings.exclude_columns),
            date_order=settings.date_order,
            import_mode=judged_as,
            check_types=settings.validate_records,
            template=load_template(settings.metadata_template) if settings.metadata_template else None,
        )


@dataclasses.dataclass
class _Part:
    columns: list[Column]
    writer: DataCsvWriter
    validator: DataValidator


def csv_fields(columns: Sequence[Column]) -> list[CsvField]:
    """The package's view of `columns`.

    Args:
        columns: data.csv's columns, in file order.

    Returns:
        One CsvField per column; the header is the Viva field name, so metadata.json maps each column
        onto itself.
    """
    return [CsvField(column.field, column.field, column.token) for column in columns]


class SchemaChangeRefused(MappingError):  # noqa: N818 - named for the outcome, as in errors.py
    """A SCHEMA message mid-stream gives a column that already holds rows another Viva type."""


class Export:
    """One run's data.csv: batches of records in, formatted, checked and written as they come.

    Args:
        workdir: a private directory for the zip parts (the caller creates and removes it).
        settings: how columns are named and typed and how data.csv is written and judged.
        held: what Viva already holds, for judging an incremental import (the delivery ledger).
    """

    def __init__(self, workdir: Path, settings: ExportSettings, held: HeldOrganization | None = None) -> None:
        self.workdir = workdir
        self.settings = settings
        self.held = held
        self._parts: list[_Part] = []
        # What the mapping found about the columns, for the report: once each, whatever the schemas.
        self._mapping_findings: dict[Issue, None] = {}
        self._technical: dict[str, None] = {}  # declared columns the mapping left out by their names

    @property
    def rows(self) -> int:
        """Records written so far, over all parts."""
        return sum(part.writer.rows for part in self._parts)

    def columns_for(self, schema: Mapping[str, Any]) -> list[Column]:
        """data.csv's columns for a stream schema, after the settings.

        Args:
            schema: the stream's JSON Schema (from its SCHEMA message).

        Returns:
            The columns, in schema order.

        Raises:
            MappingError: two columns map to one field, or an EffectiveDate-like column keeps its name
                while the stream has no EffectiveDate.
        """
        plan = mapping.plan_columns(
            schema,
            column_mapping=self.settings.column_mapping,
            field_types=self.settings.field_types,
            exclude_columns=self.settings.exclude_columns,
            date_order=self.settings.date_order,
            template_tokens=self.settings.template.tokens_by_field if self.settings.template else None,
        )
        for note in plan.notes:
            _logger.log(note.level, "%s", note.message)
        self._mapping_findings.update(dict.fromkeys(plan.findings))
        self._technical.update(dict.fromkeys(plan.technical))
        return plan.columns

    def append(self, columns: list[Column], records: list[dict[str, Any]]) -> None:
        """Format, check and write one batch.

        Args:
            columns: the columns of the stream schema the records follow (from `columns_for`); when
                they differ from the previous batch's, the rows go into a new part.
            records: the batch's records as the tap sent them. Emptied once converted: the dicts are
                the largest objects of a batch, and freeing them before the checks lowers the peak
                memory.
        """
        part = self._part_for(columns)
        first_row = part.writer.rows + 2  # data.csv line of the first record: the header is line 1
        batch = format_batch(
            records,
            columns,
            date_order=self.settings.date_order,
            first_row=first_row,
            check_types=self.settings.check_types,
            excluded=[*self.settings.exclude_columns, *self._technical],
        )
        records.clear()
        for issue in batch.issues:
            part.validator.report.add(issue)
        part.validator.add_batch(batch.table, first_row, known_days=batch.days)
        part.writer.append(batch.table)

    def _part_for(self, columns: list[Column]) -> _Part:
        if self._parts and self._parts[-1].columns == columns:
            return self._parts[-1]
        self._refuse_type_changes(columns)
        path = self.workdir / f"part-{len(self._parts) + 1}.zip"
        part = _Part(
            columns,
            DataCsvWriter(path, [column.field for column in columns]),
            DataValidator(
                csv_fields(columns),
                date_order=self.settings.date_order,
                import_mode=self.settings.import_mode,
                known_people=self.held,
                template=self.settings.template,
            ),
        )
        self._parts.append(part)
        return part

    def _refuse_type_changes(self, columns: list[Column]) -> None:
        """A column keeps the Viva type its first rows were written with (docs/viva-rules.md, "A schema
        that changes mid-stream"): metadata.json has one type per column, so a later SCHEMA that
        gives a written column another type refuses the run rather than mislabel some of its values."""
        for part in self._parts:
            written = {column.field: column for column in part.columns}
            for column in columns:
                before = written.get(column.field)
                if before is not None and before.token != column.token:
                    raise SchemaChangeRefused(
                        "A SCHEMA message in the middle of the stream changes column "
                        f"{printable(column.field)} (source {printable(column.source)}) from "
                        f"{before.token} to {column.token}, after {part.writer.rows} row(s) were written "
                        f"as {before.token}. metadata.json gives a column one type, so nothing was "
                        "packaged or uploaded. Send one type for the column for the whole run, or fix "
                        "its type with field_types."
                    )

    def close(self) -> None:
        """Close every part's zip, finished or not: a run that stops early leaves no open handle (an
        open one makes the interpreter print a traceback at exit). Closing twice is harmless."""
        for part in self._parts:
            part.writer.close()

    def finish(self) -> tuple[Path, list[Column], ValidationReport]:
        """Close data.csv and judge it whole.

        Returns:
            The zip holding data.csv (metadata.json still to be added), its columns, and the
            validation report of every row.

        Raises:
            MappingError: neither records nor a schema arrived.
        """
        for part in self._parts:
            part.writer.close()
        if not self._parts:
            raise MappingError("no records and no schema arrived for the HR stream: nothing to package")
        if len(self._parts) == 1:
            part = self._parts[0]
            path, columns, report = part.writer.path, part.columns, part.validator.finish()
        else:
            path, columns, report = self._merge_parts()
        for issue in self._mapping_findings:
            report.add(issue)
        return path, columns, report

    def _merge_parts(self) -> tuple[Path, list[Column], ValidationReport]:
        columns = _union_of_columns([part.columns for part in self._parts])
        headers = [column.field for column in columns]
        merged = DataCsvWriter(self.workdir / "data.zip", headers)
        for part in self._parts:
            with open_data_csv(part.writer.path) as data:
                part_headers = [column.field for column in part.columns]
                for batch in read_text_batches(data, part_headers, skip_header=True, empty_as_null=True):
                    present = {name: batch.column(name) for name in batch.schema.names}
                    arrays = [present.get(name, pa.nulls(batch.num_rows, pa.string())) for name in headers]
                    merged.append(pa.table(arrays, names=headers))
            part.writer.path.unlink()
        merged.close()
        with open_data_csv(merged.path) as data:
            report = validate_data_csv(
                data,
                csv_fields(columns),
                date_order=self.settings.date_order,
                import_mode=self.settings.import_mode,
                known_people=self.held,
                template=self.settings.template,
            )
        offset = 0
        for part in self._parts:  # type findings were made while formatting, before the merge
            for issue in part.validator.report.issues:
                if issue.rule is Rule.SCHEMA_TYPE and issue.row is not None:
                    report.add(dataclasses.replace(issue, row=issue.row + offset))
            offset += part.writer.rows
        return merged.path, columns, report


def _union_of_columns(column_lists: list[list[Column]]) -> list[Column]:
    latest: dict[str, Column] = {}
    for columns in column_lists:
        for column in columns:
            latest[column.field] = column
    return list(latest.values())
