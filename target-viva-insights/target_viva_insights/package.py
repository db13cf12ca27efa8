"""The Viva HR package: a zip holding data.csv and metadata.json, written and read here only.

Writing: data.csv is written batch by batch as the deflated member of a zip in the private work
directory, so no uncompressed copy of the HR data is written and the package needs no second pass over
the data (why no background compressing thread: bench/README.md).
metadata.json is added once the data has passed validation, and only then does the zip move to its final
name.

Reading (the `viva-insights validate` command, the emulator, and the target merging the parts of a run
whose schema changed): the zip's members, metadata.json and data.csv's header are checked for shape here
and raise `PackageError`; data.csv's rows come back as Arrow batches of text columns for the rules in
`validation.py` to judge.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import shutil
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.csv as pacsv

from target_viva_insights import rules
from target_viva_insights.catalogue import Rule
from target_viva_insights.import_mode import ImportMode
from target_viva_insights.private_files import PRIVATE_FILE_MODE
from target_viva_insights.rules import DateOrder, ValueKind

DATA_FILE = "data.csv"
METADATA_FILE = "metadata.json"
DATASET_TYPE = "HR"
# metadata.json's IsBootstrap: a full import replaces Viva's organizational data.
IS_BOOTSTRAP = {ImportMode.FULL: "true", ImportMode.INCREMENTAL: "false"}
# Level 1: much faster than the default level for somewhat larger files (bench/README.md); HR files
# are tens of MB at most.
COMPRESS_LEVEL = 1
READ_BLOCK_BYTES = 8 << 20


class PackageError(ValueError):
    """The zip itself is not a Viva package (wrong files, unreadable metadata); `rule` says which."""

    def __init__(self, message: str, rule: Rule = Rule.PACKAGE) -> None:
        super().__init__(message)
        self.rule = rule


@dataclasses.dataclass(frozen=True)
class CsvField:
    """A data.csv column as metadata.json maps it."""

    header: str
    name: str
    token: str

    @property
    def kind(self) -> ValueKind:
        return rules.kind_of_token(self.token)


# -- writing ----------------------------------------------------------------------------------------------


class DataCsvWriter:
    """Appends text tables to data.csv in a zip: UTF-8 without BOM, RFC 4180 quoting, one header line.

    Args:
        zip_path: the zip to create (in a private directory: it holds HR data).
        headers: data.csv's header, written at once.
    """

    def __init__(self, zip_path: Path, headers: Sequence[str]) -> None:
        self.path = zip_path
        self.headers = list(headers)
        self.rows = 0
        self._options = pacsv.WriteOptions(include_header=False)
        self._archive = zipfile.ZipFile(
            zip_path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL
        )
        self._member = self._archive.open(DATA_FILE, "w")
        self._member.write(_header_line(self.headers))

    def append(self, table: pa.Table) -> None:
        """Write the rows of `table` (text columns in header order; null is written as an empty field)."""
        pacsv.write_csv(table, self._member, write_options=self._options)
        self.rows += table.num_rows

    def close(self) -> None:
        """Finish data.csv and the zip; `path` then holds a zip with data.csv only."""
        self._member.close()
        self._archive.close()


def _header_line(headers: Sequence[str]) -> bytes:
    # Legal Viva headers never need quotes; csv quotes the illegal ones a report-only run may keep.
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(headers)
    return buffer.getvalue().encode("utf-8")


def metadata_document(fields: Iterable[CsvField], import_mode: ImportMode) -> dict[str, Any]:
    """metadata.json of a package; the key order follows the documented layout.

    Args:
        fields: data.csv's columns, in file order, with the Viva field each maps to and its type token.
        import_mode: FULL replaces Viva's organizational data (IsBootstrap "true"), INCREMENTAL adds to
            it ("false").

    Returns:
        The document: DatasetType, IsBootstrap, Mapping (header -> name and type).
    """
    return {
        "DatasetType": DATASET_TYPE,
        "IsBootstrap": "true" if import_mode.is_bootstrap else "false",
        "Mapping": {field.header: {"name": field.name, "type": field.token} for field in fields},
    }


def metadata_bytes(metadata: dict[str, Any]) -> bytes:
    """metadata.json's content: indented UTF-8 JSON without BOM, non-ASCII names kept as they are."""
    return json.dumps(metadata, indent=2, ensure_ascii=False).encode("utf-8") + b"\n"


def complete_package(data_zip: Path, metadata: dict[str, Any], zip_path: Path) -> Path:
    """Add metadata.json to the zip holding data.csv and move it to `zip_path`, complete or not at all.

    Args:
        data_zip: the zip DataCsvWriter wrote (moved away, so it no longer exists afterwards).
        metadata: the document from `metadata_document`.
        zip_path: the package's final name; its folder is created when missing.

    Returns:
        `zip_path`, which appears only once the package is whole.
    """
    with zipfile.ZipFile(data_zip, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(METADATA_FILE, metadata_bytes(metadata))
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    partial = zip_path.with_name(zip_path.name + ".partial")
    shutil.move(data_zip, partial)  # the work dir may be on another file system
    partial.chmod(PRIVATE_FILE_MODE)  # HR data: the owner's alone, whatever the umask
    partial.replace(zip_path)
    return zip_path


# -- reading ----------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class OpenPackage:
    """An existing package whose layout and metadata.json passed the shape checks."""

    fields: list[CsvField]
    import_mode: ImportMode
    data: IO[bytes]  # data.csv, positioned at its header line

    @property
    def date_order(self) -> DateOrder:
        """The order the mapping's date types announce (the default when it maps no dates)."""
        return date_order_of(self.fields)


@contextlib.contextmanager
def open_package(zip_path: Path) -> Iterator[OpenPackage]:
    """Check the zip's members and metadata.json, and open data.csv for reading.

    Args:
        zip_path: the package.

    Returns:
        A context manager giving the package's fields, import mode and open data.csv; closes the zip.

    Raises:
        PackageError: the zip does not hold exactly data.csv and metadata.json, or either is empty, or
            metadata.json is not a valid HR mapping.
        zipfile.BadZipFile: the file is not a zip.
    """
    with zipfile.ZipFile(zip_path) as archive:
        _check_members(archive)
        fields, import_mode = _fields_from_metadata(_read_metadata(archive))
        with archive.open(DATA_FILE) as data:
            yield OpenPackage(fields, import_mode, data)


@contextlib.contextmanager
def open_data_csv(zip_path: Path) -> Iterator[IO[bytes]]:
    """The data.csv member of a zip written by DataCsvWriter, for reading back; closes the zip too.

    Args:
        zip_path: a zip holding data.csv.

    Returns:
        A context manager giving data.csv as a binary file, positioned at its header line.
    """
    with zipfile.ZipFile(zip_path) as archive, archive.open(DATA_FILE) as data:
        yield data


def _check_members(archive: zipfile.ZipFile) -> None:
    names = sorted(info.filename for info in archive.infolist() if not info.is_dir())
    if names != sorted([DATA_FILE, METADATA_FILE]):
        raise PackageError(
            f"the zip must hold exactly {DATA_FILE} and {METADATA_FILE} at its root; it holds: "
            f"{', '.join(names) or 'nothing'}",
            Rule.PACKAGE_MEMBERS,
        )
    for name in names:
        if archive.getinfo(name).file_size == 0:
            raise PackageError(f"{name} is empty", Rule.EMPTY_MEMBER)


def _read_metadata(archive: zipfile.ZipFile) -> dict[str, Any]:
    try:
        metadata = json.loads(archive.read(METADATA_FILE).decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PackageError(f"{METADATA_FILE} is not valid UTF-8 JSON: {exc}", Rule.INVALID_METADATA) from exc
    if not isinstance(metadata, dict):
        raise PackageError(f"{METADATA_FILE} must hold a JSON object", Rule.INVALID_METADATA)
    if metadata.get("DatasetType") != DATASET_TYPE:
        raise PackageError(f'{METADATA_FILE}: "DatasetType" must be "{DATASET_TYPE}"', Rule.DATASET_TYPE)
    if metadata.get("IsBootstrap") not in IS_BOOTSTRAP.values():
        raise PackageError(
            f'{METADATA_FILE}: "IsBootstrap" must be the string "true" or "false"', Rule.IS_BOOTSTRAP
        )
    if not isinstance(metadata.get("Mapping"), dict) or not metadata["Mapping"]:
        raise PackageError(f'{METADATA_FILE}: "Mapping" must be a non-empty object', Rule.MAPPING_INVALID)
    return metadata


def _fields_from_metadata(metadata: dict[str, Any]) -> tuple[list[CsvField], ImportMode]:
    fields = []
    for header, target in metadata["Mapping"].items():
        if not isinstance(target, dict) or not target.get("name") or not target.get("type"):
            raise PackageError(
                f'{METADATA_FILE}: the mapping of column "{header}" needs a non-empty "name" and "type"',
                Rule.MAPPING_INVALID,
            )
        fields.append(CsvField(header, str(target["name"]), str(target["type"])))
    mode = next(mode for mode, token in IS_BOOTSTRAP.items() if token == metadata["IsBootstrap"])
    return fields, mode


def date_order_of(fields: Iterable[CsvField]) -> DateOrder:
    """The date order of the mapping's first date type that names one; the default when none does.

    Each date field is read in its own type's order ("Admin can select DataType as either
    DateTime_MM/DD/YYYY or DateTime_DD/MM/YYYY", per attribute); this order serves the date fields whose
    token names none.

    Args:
        fields: the columns as metadata.json maps them.

    Returns:
        The order of the first date type that names one; the default when none does.
    """
    orders = (DateOrder.of_type_token(field.token) for field in fields)
    return next((order for order in orders if order is not None), rules.DEFAULT_DATE_ORDER)


def read_header(data: IO[bytes]) -> list[str]:
    """The first line of data.csv as column names; leaves `data` positioned at the first row.

    Args:
        data: data.csv, at its start. A UTF-8 byte order mark is skipped.

    Returns:
        The column names, unquoted as CSV.

    Raises:
        PackageError: the header line is not UTF-8.
    """
    first = data.readline()
    try:
        text = first.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PackageError(f"the {DATA_FILE} header is not UTF-8", Rule.NOT_UTF8) from exc
    if text.startswith("\ufeff"):
        text = text[1:]
    return next(csv.reader([text.rstrip("\r\n")]), [])


def read_text_batches(
    data: IO[bytes] | io.RawIOBase,
    headers: Sequence[str],
    *,
    skip_header: bool = False,
    empty_as_null: bool = False,
    dictionary_encoded: bool = False,
    block_bytes: int = READ_BLOCK_BYTES,
) -> pacsv.CSVStreamingReader:
    """data.csv's rows as Arrow batches of text columns.

    Args:
        data: data.csv, read up to and including its header line (see `read_header`), or from its
            start with `skip_header`.
        headers: the column names, in file order.
        skip_header: let the CSV parser skip the header row.
        empty_as_null: read an empty unquoted cell as null (to write the rows again byte for byte);
            otherwise it is an empty string, as the rules judge it.
        dictionary_encoded: each column as the batch's distinct values and an index per row (for work
            done once per distinct value).
        block_bytes: the size of the blocks the file is parsed in; the reader holds a few dozen.

    Returns:
        A streaming reader of record batches; it raises `pyarrow.ArrowInvalid` (or
        `UnicodeDecodeError`) at the batch that cannot be read.
    """
    text = pa.dictionary(pa.int32(), pa.string()) if dictionary_encoded else pa.string()
    return pacsv.open_csv(
        data,
        read_options=pacsv.ReadOptions(
            column_names=list(headers), skip_rows=int(skip_header), block_size=block_bytes
        ),
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(headers, text),
            strings_can_be_null=empty_as_null,
            quoted_strings_can_be_null=False,
        ),
    )
