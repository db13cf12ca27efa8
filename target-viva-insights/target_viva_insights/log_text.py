"""Text from the input made safe for one log line: names of columns, settings and files.

A column name is chosen by whoever wrote the source file. A line break or an escape sequence in it would
let it forge a log line ("ERROR ... upload refused") or rewrite the terminal. Such characters are shown
escaped, the way Python writes them in a string literal, so the name stays recognisable and one line.
"""

from __future__ import annotations

import logging

# Longer names are cut: a log line names a place, it does not carry a payload.
MAX_SHOWN = 200


def printable(text: object, limit: int | None = MAX_SHOWN) -> str:
    """`text` with control, format and line/paragraph-separator characters escaped (\\n, \\x1b, \\u2028).

    Args:
        text: A name from the input (converted with `str`).
        limit: At most this many characters are kept (None: all); a cut name ends with an ellipsis.

    Returns:
        The text, safe to put into one log line.
    """
    value = str(text)
    if limit is not None and len(value) > limit:
        value = value[:limit] + "..."
    if value.isprintable():
        return value
    return "".join(char if char.isprintable() else _escaped(char) for char in value)


def _escaped(char: str) -> str:
    # repr() gives \n, \t, \x1b, \u2028 ...; the quotes around it are dropped.
    shown = repr(char)[1:-1]
    if shown == char:  # repr leaves some non-printable characters (e.g. U+00AD) as they are
        return f"\\u{ord(char):04x}"
    return shown


class OneLineLogRecord(logging.LogRecord):
    """A log record whose message is one line, whatever text its arguments bring.

    Tracebacks are formatted apart from the message (`exc_info`) and keep their lines.
    """

    def getMessage(self) -> str:  # noqa: N802 - logging's name
        return printable(super().getMessage(), limit=None)


def keep_log_messages_on_one_line() -> None:
    """Every log record of this process gets a one-line message, whichever logger or handler writes it."""
    logging.setLogRecordFactory(OneLineLogRecord)
