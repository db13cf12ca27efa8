"""Singer message reader: msgspec decoding, floats kept as floats, no record text in any log line."""

from __future__ import annotations

import sys
from typing import IO, Any

import msgspec
from singer_sdk.singerlib.exceptions import InvalidInputLine

from target_viva_insights.fast_path import LeanMessageReader


class VivaMessageReader(LeanMessageReader):
    """Like the SDK's MsgSpecReader, with two differences that matter here.

    Floats decode as `float`, not `Decimal`: data.csv gets plain numbers through Arrow's float64 and the
    held-back STATE serializes without a Decimal-aware encoder. And a line that is not JSON is reported
    by its number only: the line is a record of personal data and must not reach the log.
    """

    default_input: IO[str] = sys.stdin

    def __init__(self) -> None:
        super().__init__()
        self.decoder = msgspec.json.Decoder()
        self.line_number = 0

    def deserialize_json(self, line: str) -> dict[str, Any]:
        """One line on its own (the SDK's interface); `process_lines` decodes inline."""
        self.line_number += 1
        try:
            message = self.decoder.decode(line)
        except msgspec.DecodeError as exc:
            raise self.not_a_message(f"is not valid JSON ({exc})") from None
        if type(message) is not dict:
            raise self.not_a_message("is not a Singer message (a JSON object)")
        return message

    def not_a_message(self, problem: str) -> InvalidInputLine:
        return InvalidInputLine(f"Input line {self.line_number} {problem}; its content is not logged.")
