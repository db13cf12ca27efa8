"""Dates as Viva reads them, vectorized: ISO text in, MM/DD/YYYY (or DD/MM/YYYY) out, and back to days.

The common case is text in one fixed shape: it is rearranged with string slices and checked by one
cast to date32, which refuses impossible days. Arrow's strftime costs far more per cell than a cast
(bench/README.md, "Design measurements"), so it runs only on the rare batch that holds an impossible
or unusually written date.
"""

from __future__ import annotations

import dataclasses

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

    Accepts every form the attribute reference lists for the date order (`date_forms`).
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
        days = _loose_viva_days(values, days, other_forms, date_order)
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


@dataclasses.dataclass(frozen=True)
class DateForm:
    """One date form of the attribute reference: `pattern` names the groups year, month and day.

    A year has two or four digits, a month digits or an English name (full or three letters)."""

    label: str
    pattern: str


_DAY = r"(?P<day>[0-9]{1,2})"
_MONTH = r"(?P<month>[0-9]{1,2})"
_YEAR4 = r"(?P<year>[0-9]{4})"
_YEAR2 = r"(?P<year>[0-9]{2})"
_MORE_TEXT = r"(?:[ T].*)?"  # "followed by more text such as time"
# Prepare organizational data, attribute reference (EffectiveDate, HireDate), ms.date 09/09/2024.
MDY_FORMS = (
    DateForm("MM/DD/YYYY", rf"^{_MONTH}/{_DAY}/{_YEAR4}{_MORE_TEXT}$"),
    DateForm("MM-DD-YYYY", rf"^{_MONTH}-{_DAY}-{_YEAR4}$"),
    DateForm("MM-DD-YY", rf"^{_MONTH}-{_DAY}-{_YEAR2}$"),
    DateForm("YYYY-MM-DD", rf"^{_YEAR4}-{_MONTH}-{_DAY}$"),
)
DMY_FORMS = (
    DateForm("DD/MM/YYYY", rf"^{_DAY}/{_MONTH}/{_YEAR4}{_MORE_TEXT}$"),
    DateForm("D/MM/YY", rf"^{_DAY}/{_MONTH}/{_YEAR2}$"),
    DateForm("DD-MM-YYYY", rf"^{_DAY}-{_MONTH}-{_YEAR4}$"),
    DateForm("DD-MM-YY", rf"^{_DAY}-{_MONTH}-{_YEAR2}$"),
    DateForm("YYYY-DD-MM", rf"^{_YEAR4}-{_DAY}-{_MONTH}$"),
)
NAMED_MONTH_FORMS = (
    DateForm(
        "Wednesday, March 14, 2012",
        r"^(?:[A-Za-z]+, )?(?P<month>[A-Za-z]+) (?P<day>[0-9]{1,2}), (?P<year>[0-9]{4})$",
    ),
    DateForm("14-Mar-2012", r"^(?P<day>[0-9]{1,2})-(?P<month>[A-Za-z]{3})-(?P<year>[0-9]{2}|[0-9]{4})$"),
)
# English, as the docs' examples (not the machine's locale): full names, then three-letter ones.
_FULL_MONTHS = "january february march april may june july august september october november december"
MONTH_NAMES = [*_FULL_MONTHS.split(), *(name[:3] for name in _FULL_MONTHS.split())]
# Two-digit years as .NET reads them by default (TwoDigitYearMax 2049): 00-49 is 20xx, 50-99 19xx.
TWO_DIGIT_YEAR_PIVOT = 50
YEAR_FIRST_PATTERN = r"^[0-9]{4}-(?P<first>[0-9]{1,2})-(?P<second>[0-9]{1,2})$"


def date_forms(date_order: DateOrder) -> tuple[DateForm, ...]:
    """Every form Viva reads for a DateTime_MM/DD/YYYY (MDY) or DateTime_DD/MM/YYYY (DMY) field."""
    return (MDY_FORMS if date_order is DateOrder.MDY else DMY_FORMS) + NAMED_MONTH_FORMS


def year_first_ambiguous(values: pa.Array, date_order: DateOrder) -> pa.Array:
    """True where a DD/MM/YYYY field holds YYYY-xx-xx that also reads as ISO YYYY-MM-DD.

    Viva reads these as YYYY-DD-MM, so 2024-03-04 is the 3rd of April: valid, likely unintended."""
    if date_order is not DateOrder.DMY or not pc.any(pc.match_substring(values, "-")).as_py():
        return pa.nulls(len(values), pa.bool_()).fill_null(False)
    parts = pc.extract_regex(values, YEAR_FIRST_PATTERN)
    first = pc.cast(pc.struct_field(parts, "first"), pa.int32())
    second = pc.cast(pc.struct_field(parts, "second"), pa.int32())
    both_months = pc.and_(pc.less_equal(first, 12), pc.less_equal(second, 12))
    return pc.fill_null(pc.and_(both_months, pc.not_equal(first, second)), False)


def _loose_viva_days(values: pa.Array, days: pa.Array, pending: pa.Array, date_order: DateOrder) -> pa.Array:
    """`days` completed with every other documented form where `pending`: one regex per form, each
    over only the values no earlier form read (the common unpadded M/D/YYYY goes first)."""
    for form in date_forms(date_order):
        if not pc.any(pending).as_py():
            break
        parsed = _form_days(pc.filter(values, pending), form)
        days = pc.replace_with_mask(days, pending, parsed)
        pending = pc.and_(pending, pc.is_null(days))
    return days


def _form_days(values: pa.Array, form: DateForm) -> pa.Array:
    parts = pc.extract_regex(values, form.pattern)
    year = pc.cast(pc.struct_field(parts, "year"), pa.int32())
    short = pc.equal(pc.utf8_length(pc.struct_field(parts, "year")), 2)
    century = pc.if_else(pc.less(year, TWO_DIGIT_YEAR_PIVOT), 2000, 1900)
    year = pc.if_else(short, pc.add(year, century), year)
    month_text = pc.struct_field(parts, "month")
    named = pc.index_in(pc.utf8_lower(month_text), value_set=pa.array(MONTH_NAMES))
    digits = pc.if_else(pc.utf8_is_digit(month_text), month_text, NULL_TEXT)
    month_number = pc.coalesce(
        pc.cast(digits, pa.int32()), pc.add(pc.cast(pc.remainder(named, 12), pa.int32()), 1)
    )
    iso = pc.binary_join_element_wise(
        pc.utf8_lpad(pc.cast(year, pa.string()), 4, "0"),
        pc.utf8_lpad(pc.cast(month_number, pa.string()), 2, "0"),
        pc.utf8_lpad(pc.struct_field(parts, "day"), 2, "0"),
        "-",
    )
    return real_days(iso)


def _join_parts(
    text: pa.Array, slices: dict[str, tuple[int, int]], order: tuple[str, ...], separator: str
) -> pa.Array:
    pieces = [pc.utf8_slice_codeunits(text, *slices[name]) for name in order]
    return pc.binary_join_element_wise(*pieces, separator)
