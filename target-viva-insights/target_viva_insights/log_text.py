"""Text from the input made safe for one log line: names of columns, settings and files.

A column name is chosen by whoever wrote the source file. A line break or an escape sequence in it would
let it forge a log line ("ERROR ... upload refused") or rewrite the terminal. Such characters are shown
escaped, the way Python writes them in a string literal, so the name stays recognisable and one line.
"""

from __future__ import annotations

# Longer names are cut: a log line names a place, it does not carry a payload.
MAX_SHOWN = 200


def printable(text: object, limit: int = MAX_SHOWN) -> str:
    """`text` with control, format and line/paragraph-separator characters escaped (\\n, \\x1b, \\u2028).

    Args:
        text: A name from the input (converted with `str`).
        limit: At most this many characters are kept; a cut name ends with an ellipsis.

    Returns:
        The text, safe to put into one log line.
    """
    value = str(text)
    if len(value) > limit:
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
