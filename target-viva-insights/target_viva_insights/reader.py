"""Singer message reader: msgspec decoding, floats kept as floats, no record text in any log line."""

from __future__ import annotations

import sys
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

    def deserialize_json(self, line: str) -> dict[str, Any]:
        self._line_number += 1
        try:
            message = self._decoder.decode(line)
        except msgspec.DecodeError as exc:
            msg = f"Input line {self._line_number} is not valid JSON ({exc}); its content is not logged."
            raise InvalidInputLine(msg) from None
        if not isinstance(message, dict):
            msg = f"Input line {self._line_number} is not a Singer message (a JSON object)."
            raise InvalidInputLine(msg)
        return message
