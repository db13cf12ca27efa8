"""Dates as Viva reads them, vectorized: ISO text in, MM/DD/YYYY (or DD/MM/YYYY) out, and back to days.

The common case is text in one fixed shape: it is rearranged with string slices and checked by one
cast to date32, which refuses impossible days. Arrow's strftime costs far more per cell than a cast
(bench/README.md, "Design measurements"), so it runs only on the rare batch that holds an impossible
or unusually written date.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from target_viva_insights.rules import DateOrder

# ISO 8601 date or date-time (RFC 3339 and the common space-separated form).
ISO_DATE_OR_DATETIME = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"(?:[Tt ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]+)?)?(?:[Zz]|[+-][0-9]{2}(?::?[0-9]{2})?)?)?$"
)
NULL_DATE = pa.scalar(None, pa.date32())
NULL_TEXT = pa.scalar(None, pa.string())
# Where year, month and day sit in YYYY-MM-DD.
ISO_SLICES = {"year": (0, 4), "month": (5, 7), "day": (8, 10)}


def iso_to_viva_dates(text: pa.Array, date_order: DateOrder) -> tuple[pa.Array, pa.Array]:
    """ISO dates and date-times become Viva's date text (the calendar date as written); others stay.

    Values left unchanged are judged by the date rule of the validation, which names them.

    Args:
        text: ISO 8601 dates or date-times (others are left as they are).
        date_order: the order of day and month in the text written.

    Returns:
        The text for data.csv, and the day of each converted value (date32; null where the value was
        left unchanged or is null), which the validation then need not parse again.
    """
    try:
        # The usual column of plain dates: one cast checks every value (format and calendar).
        days = pc.cast(text, pa.date32())
        return _join_parts(text, ISO_SLICES, date_order.parts, "/"), days
    except pa.ArrowInvalid:
        pass
    is_iso = pc.fill_null(pc.match_substring_regex(text, ISO_DATE_OR_DATETIME), False)
    iso_day = pc.if_else(is_iso, pc.utf8_slice_codeunits(text, 0, 10), NULL_TEXT)
    days = real_days(iso_day)
    return pc.if_else(pc.is_valid(days), _join_parts(iso_day, ISO_SLICES, date_order.parts, "/"), text), days


def viva_date_days(values: pa.Array, date_order: DateOrder) -> pa.Array:
    """date32 for text in Viva's date format for `date_order`, else null.

    Accepts one- or two-digit day and month and text after the date (a time), as Viva does.
    """
    fixed_shape = pc.fill_null(
        pc.and_(
            pc.equal(pc.utf8_length(values), 10),
            pc.and_(
                pc.equal(pc.utf8_slice_codeunits(values, 2, 3), "/"),
                pc.equal(pc.utf8_slice_codeunits(values, 5, 6), "/"),
            ),
        ),
        False,
    )
    iso = _join_parts(values, date_order.slices, ("year", "month", "day"), "-")
    days = real_days(pc.if_else(fixed_shape, iso, NULL_TEXT))
    other_forms = pc.and_(pc.invert(fixed_shape), pc.is_valid(values))
    if pc.any(other_forms).as_py():
        days = pc.coalesce(days, _loose_viva_days(values, date_order))
    return days


def real_days(iso: pa.Array) -> pa.Array:
    """date32 for YYYY-MM-DD text that names a real day; null for anything else."""
    try:
        return pc.cast(iso, pa.date32())
    except pa.ArrowInvalid:
        pass
    parsed = pc.strptime(iso, format="%Y-%m-%d", unit="s", error_is_null=True)
    # strptime rolls impossible days over (02/30 becomes March 1st); a real date prints back unchanged.
    same = pc.fill_null(pc.equal(pc.strftime(parsed, format="%Y-%m-%d"), iso), False)
    return pc.if_else(same, pc.cast(parsed, pa.date32()), NULL_DATE)


def _loose_viva_days(values: pa.Array, date_order: DateOrder) -> pa.Array:
    """Unpadded day or month, or a time after the date: the regex path, for the few such cells."""
    parts = pc.extract_regex(values, date_order.pattern)
    year, month, day = (pc.struct_field(parts, name) for name in ("year", "month", "day"))
    iso = pc.binary_join_element_wise(year, pc.utf8_lpad(month, 2, "0"), pc.utf8_lpad(day, 2, "0"), "-")
    return real_days(iso)


def _join_parts(
    text: pa.Array, slices: dict[str, tuple[int, int]], order: tuple[str, ...], separator: str
) -> pa.Array:
    pieces = [pc.utf8_slice_codeunits(text, *slices[name]) for name in order]
    return pc.binary_join_element_wise(*pieces, separator)
