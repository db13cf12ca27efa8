"""Singer message reader: msgspec decoding, floats kept as floats, no record text in any log line.

Input that cannot be read faithfully is refused with its line number, before it reaches a sink: bytes
that are not UTF-8, a BATCH manifest naming a file that is not there. A problem the
SDK or a sink finds while handling a line (a RECORD without its key properties, a RECORD before its
SCHEMA) is re-raised naming that line too, as a data error (exit code 3) rather than a traceback.
"""

from __future__ import annotations

import sys
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import msgspec
from singer_sdk.exceptions import MissingKeyPropertiesError, RecordsWithoutSchemaException
from singer_sdk.singerlib.exceptions import InvalidInputLine

from target_viva_insights.errors import DataValidationFailed, VivaError
from target_viva_insights.log_text import printable
from target_viva_insights.singer.fast_path import LeanMessageReader, undecodable

_LOCAL_SCHEMES = ("", "file")


class InputLineError(DataValidationFailed):
    """An input line that cannot be taken as it is; the message names the line, never its content."""


class MalformedLineError(InputLineError, InvalidInputLine):
    """Not JSON, not UTF-8, not a Singer message (still the SDK's InvalidInputLine for its callers)."""


class MissingKeyLineError(InputLineError, MissingKeyPropertiesError):
    """A RECORD without one of its stream's key properties."""


class RecordBeforeSchemaLineError(InputLineError, RecordsWithoutSchemaException):
    """A RECORD of a stream whose SCHEMA has not arrived."""


_LINE_ERRORS: dict[type[Exception], type[InputLineError]] = {
    MissingKeyPropertiesError: MissingKeyLineError,
    RecordsWithoutSchemaException: RecordBeforeSchemaLineError,
}


class VivaMessageReader(LeanMessageReader):
    """Like the SDK's MsgSpecReader, with three differences that matter here.

    Floats decode as `float`, not `Decimal`: data.csv gets plain numbers through Arrow's float64 and the
    held-back STATE serializes without a Decimal-aware encoder. A line that is not JSON is reported
    by its number only: the line is a record of personal data and must not reach the log. And the
    input is read as bytes where it can be, so that bytes which are not UTF-8 are refused by line
    instead of being decoded into something else.
    """

    default_input: IO[str] = sys.stdin

    def __init__(self) -> None:
        super().__init__()
        self.decoder = msgspec.json.Decoder()
        self.line_number = 0

    def process_lines(
        self, file_input: IO[str] | None, callbacks: dict[str, Callable[[dict], None]]
    ) -> Counter[str]:
        """The lean loop over checked lines; a failure while handling a line names the line."""
        checked = dict(callbacks)
        if "BATCH" in checked:
            checked["BATCH"] = self._batch_checked_first(checked["BATCH"])
        first = self.line_number
        self._current = first
        try:
            lines = self._checked_lines(file_input or self.default_input)
            return super().process_lines(lines, checked)  # type: ignore[arg-type]  # bytes decode too
        except InputLineError:
            raise
        except tuple(_LINE_ERRORS) as error:
            self.line_number = self._current
            raise _LINE_ERRORS[type(error)](f"Input line {self._current}: {error}") from None
        except UnicodeDecodeError:
            self.line_number = self._current
            raise self.not_a_message("is not UTF-8 text") from None
        except VivaError:
            raise  # settings and stream selection: their own message and exit code
        except Exception as error:
            problem = self._malformed_current_line()
            if problem is None:
                raise  # a well-formed line: not an input problem, the traceback is wanted
            self.line_number = self._current
            raise self.not_a_message(problem) from error

    def _checked_lines(self, source: Iterable[str] | IO[str]) -> Iterator[bytes | str]:
        """The lines as bytes when the input has them (msgspec then checks UTF-8), counted."""
        raw = getattr(source, "buffer", None)
        lines: Iterable[bytes | str] = raw if raw is not None else source
        for line in lines:
            self._current += 1
            self._last_line = line  # looked at again only when handling the line failed
            yield line

    def _malformed_current_line(self) -> str | None:
        """What is wrong with the structure of the line being handled, or None if nothing is."""
        try:
            message = self.decoder.decode(self._last_line)
        except (msgspec.DecodeError, UnicodeDecodeError, AttributeError):
            return None
        if not isinstance(message, dict):
            return None
        return message_structure_problem(message)

    def _batch_checked_first(self, handle: Callable[[dict], None]) -> Callable[[dict], None]:
        def checked(message: dict) -> None:
            for url in message.get("manifest") or []:
                problem = _manifest_entry_problem(url)
                if problem:
                    self.line_number = self._current
                    raise self.not_a_message(f"is a BATCH message whose manifest {problem}")
            handle(message)

        return checked

    def deserialize_json(self, line: str) -> dict[str, Any]:
        """One line on its own (the SDK's interface); `process_lines` decodes inline."""
        self.line_number += 1
        try:
            message = self.decoder.decode(line)
        except msgspec.DecodeError as exc:
            raise self.not_a_message(undecodable(line, exc)) from None
        if type(message) is not dict:
            raise self.not_a_message("is not a Singer message (a JSON object)")
        return message

    def not_a_message(self, problem: str) -> InvalidInputLine:
        return MalformedLineError(f"Input line {self.line_number} {problem}; its content is not logged.")


# What each Singer message needs to be handled (the Singer specification), by message type.
REQUIRED_KEYS: dict[str, tuple[tuple[str, type, str], ...]] = {
    "RECORD": (("stream", str, "a stream name"), ("record", dict, "an object")),
    "SCHEMA": (("stream", str, "a stream name"), ("schema", dict, "a JSON Schema object")),
    "STATE": (("value", dict, "an object"),),
    "BATCH": (
        ("stream", str, "a stream name"),
        ("encoding", dict, "an object"),
        ("manifest", list, "a list"),
    ),
    "ACTIVATE_VERSION": (("stream", str, "a stream name"), ("version", int, "a number")),
}


def message_structure_problem(message: dict) -> str | None:
    """Which key a Singer message lacks or holds in the wrong shape (named, never shown), or None."""
    message_type = message.get("type")
    for key, kind, described in REQUIRED_KEYS.get(str(message_type), ()):
        if not isinstance(message.get(key), kind):
            return f"is a Singer {message_type} message whose '{key}' is missing or not {described}"
    if message_type == "SCHEMA":
        schema = message["schema"]
        if not isinstance(schema.get("properties"), dict):
            return "is a SCHEMA message whose schema has no 'properties' object"
        keys = message.get("key_properties", [])
        if not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
            return "is a SCHEMA message whose 'key_properties' is not a list of names"
    return None


def _manifest_entry_problem(url: Any) -> str | None:
    """Why a manifest entry cannot be read, for local files (the SDK would create folders for it)."""
    if not isinstance(url, str) or not url:
        return "holds an entry that is not a file URL"
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme not in _LOCAL_SCHEMES and len(parsed.scheme) > 1:  # C:\ is a path, not a scheme
        return None  # remote storage: its own client reports a missing object
    path = Path(urllib.request.url2pathname(parsed.path)) if parsed.scheme == "file" else Path(url)
    if not path.is_file():
        return f"names a file that does not exist ({printable(path.name)})"
    return None
