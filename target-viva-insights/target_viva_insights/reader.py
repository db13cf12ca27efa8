"""Singer message reader: msgspec decoding, floats kept as floats, no record text in any log line."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable
from typing import IO, Any

import msgspec
from singer_sdk.singerlib.encoding.base import GenericSingerReader
from singer_sdk.singerlib.exceptions import InvalidInputLine


class VivaMessageReader(GenericSingerReader[str]):
    """Like the SDK's MsgSpecReader, with two differences that matter here.

    Floats decode as `float`, not `Decimal`: data.csv gets plain numbers through Arrow's float64 and the
    held-back STATE serializes without a Decimal-aware encoder. And a line that is not JSON is reported
    by its number only: the line is a record of personal data and must not reach the log.
    """

    default_input: IO[str] = sys.stdin

    def __init__(self) -> None:
        super().__init__()
        self._decoder = msgspec.json.Decoder()
        self._line_number = 0

    def process_lines(
        self, file_input: IO[str] | None, callbacks: dict[str, Callable[[dict], None]]
    ) -> Counter[str]:
        """The SDK's loop, leaner: it runs once per record, so every call saved counts."""
        stats: Counter[str] = Counter()
        decode = self._decoder.decode
        for line in file_input or self.default_input:
            self._line_number += 1
            try:
                message = decode(line)
            except msgspec.DecodeError as exc:
                raise self._not_a_message(f"is not valid JSON ({exc})") from None
            if type(message) is not dict:
                raise self._not_a_message("is not a Singer message (a JSON object)")
            message_type = message.get("type")
            callback = callbacks.get(message_type) if isinstance(message_type, str) else None
            if callback is not None:
                callback(message)
            elif message_type is None:
                self.assert_line_requires(message, requires={"type"})  # raises the SDK's error
            else:
                self._process_unknown_message(message)
            stats[str(message_type)] += 1
        return stats

    def deserialize_json(self, line: str) -> dict[str, Any]:
        """One line on its own (the SDK's interface); `process_lines` decodes inline."""
        self._line_number += 1
        try:
            message = self._decoder.decode(line)
        except msgspec.DecodeError as exc:
            raise self._not_a_message(f"is not valid JSON ({exc})") from None
        if type(message) is not dict:
            raise self._not_a_message("is not a Singer message (a JSON object)")
        return message

    def _not_a_message(self, problem: str) -> InvalidInputLine:
        return InvalidInputLine(f"Input line {self._line_number} {problem}; its content is not logged.")
