"""The data-quality report as one self-contained HTML page.

The page holds its style inline and its charts as inline SVG (`svg.py`); it has no script and loads
nothing: its Content-Security-Policy forbids any fetch, so even a stray reference could not reach the
network. Status is always said in words ("ERROR", "warning", "jump"), never by colour alone, and an
`@media print` block keeps tables and charts whole on paper. Without `show_examples` the page holds
aggregates only (see `profile.py`); with it, up to five findings per rule with their row, column and
value.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from pathlib import Path

from target_viva_insights.catalogue import Severity
from target_viva_insights.private_files import private_file
from target_viva_insights.quality.advice import FIXES, SOURCE_SENTENCES
from target_viva_insights.quality.aggregates import PAIR_CAP, VALUE_CAP
from target_viva_insights.quality.profile import (
    LONG_TENURE_YEARS,
    M365_COVERAGE_GATE,
    PLACEHOLDER_DATES,
    PLACEHOLDER_TEXTS,
    PRIVACY_MINIMUM,
    SUDDEN_CHANGE_SHARE,
    AttributeProfile,
    AttributeWarning,
    Change,
    Delivery,
    InputKind,
    OrgTree,
    QualityProfile,
)
from target_viva_insights.quality.svg import Bar, bar_chart
from target_viva_insights.validation.report import Issue

# Before a figure a bound of the aggregates made an estimate (quality/aggregates.py).
ESTIMATE_MARK = "\u2248"

STYLE = """
:root { color: #111; background: #fff; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; margin: 2rem auto;
  max-width: 60rem; padding: 0 1rem; line-height: 1.4; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.25rem; border-bottom: 2px solid #111; padding-bottom: 0.2rem; margin-top: 2rem; }
h3 { font-size: 1.05rem; margin-top: 1.2rem; }
.meta { color: #444; margin-top: 0; }
.verdict { font-size: 1.1rem; font-weight: bold; border: 2px solid #111; padding: 0.5rem 0.8rem; }
table { border-collapse: collapse; width: 100%; margin: 0.5rem 0 1rem; font-size: 0.92rem; }
th, td { border: 1px solid #888; padding: 0.25rem 0.45rem; text-align: left; vertical-align: top; }
th { background: #eee; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.totals th { width: 14rem; }
#findings td:nth-child(2) code { white-space: nowrap; }
.chart { width: 100%; height: auto; max-width: 45rem; display: block; margin: 0.5rem 0; }
.chart .grid { stroke: #ccc; stroke-width: 0.5; }
.chart .axis { stroke: #000; stroke-width: 1; }
.chart text { font-family: inherit; font-size: 11px; fill: #111; }
.chart .chart-title { font-size: 13px; font-weight: bold; }
.chart .axis-label { font-size: 12px; }
.warn { font-weight: bold; }
.muted { color: #555; }
ul.plain { padding-left: 1.2rem; }
footer { margin-top: 2.5rem; font-size: 0.85rem; color: #444; border-top: 1px solid #888; }
@media print {
  body { margin: 0; max-width: none; font-size: 10pt; }
  h2 { break-after: avoid; }
  table, .chart, section.keep { break-inside: avoid; }
  th { background: none; }
  a { color: inherit; text-decoration: none; }
}
"""
# No fetch of any kind: the page is readable offline and cannot call home.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
REPORT_SUFFIX = "-quality.html"


def report_path_for(package: Path) -> Path:
    """Where the report of a package goes: beside it, `NAME-quality.html`."""
    return package.with_name(package.stem + REPORT_SUFFIX)


def write_report(profile: QualityProfile, path: Path, *, show_examples: bool = False) -> Path:
    """Write the page to `path`, readable by its owner only (0600): it describes HR data."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with private_file(path) as handle:
        handle.write(render(profile, show_examples=show_examples))
    return path


def render(profile: QualityProfile, *, show_examples: bool = False) -> str:
    """The whole page."""
    sections = [
        _header(profile),
        _totals(profile),
        _coverage(profile),
        _attributes(profile),
        _gates(profile),
        _org(profile.org),
        _hire(profile),
        _placeholders(profile.attributes),
        _findings(profile, show_examples=show_examples),
        _changes(profile.delivery),
    ]
    body = "\n".join(section for section in sections if section)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Data-quality report: {escape(profile.source)}</title>"
        f"<style>{STYLE}</style></head>\n<body>\n{body}\n{_footer(show_examples)}\n</body></html>\n"
    )


# ---- sections ---------------------------------------------------------------------------------------


def _header(profile: QualityProfile) -> str:
    errors = sum(f.count for f in profile.findings if f.severity is Severity.ERROR)
    warnings = sum(f.count for f in profile.findings if f.severity is Severity.WARNING)
    if profile.kind is InputKind.M365_CSV:
        failed = [gate.column for gate in profile.gates if not gate.passed]
        verdict = (
            f"Not fit: below the {_pct(M365_COVERAGE_GATE)} coverage gate: {', '.join(failed)}"
            if failed
            else "Fit: every Microsoft 365 coverage gate is met"
        )
    elif not profile.findings_judged:
        verdict = "Not validated: only the aggregates below"
    elif errors:
        verdict = f"Not fit to upload: {errors:,} error(s), {warnings:,} warning(s)"
    else:
        verdict = f"Fit to upload: no errors, {warnings:,} warning(s)"
    made = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"<header><h1>Data-quality report: {escape(profile.source)}</h1>"
        f'<p class="meta">{escape(profile.kind.value)}, made {made}.</p>'
        f'<p class="verdict" id="verdict">{escape(verdict)}</p></header>'
    )


def _totals(profile: QualityProfile) -> str:
    rows = [
        ("People", f'<span id="total-people">{profile.people:,}</span>'),
        ("Rows", f'<span id="total-rows">{profile.rows:,}</span>'),
        ("EffectiveDates", f'<span id="total-dates">{profile.effective_dates:,}</span>'),
        ("EffectiveDate months", f'<span id="total-months">{len(profile.months):,}</span>'),
        ("Columns", f"{len(profile.columns):,}"),
    ]
    delivery = profile.delivery
    if delivery is not None:
        rows.append(("Destination", escape(delivery.destination)))
        rows.append(("Import plan", escape(delivery.plan)))
    else:
        rows.append(("Destination", "none: made from a file, not by a run"))
    body = "".join(f"<tr><th>{name}</th><td>{value}</td></tr>" for name, value in rows)
    return f'<section class="keep"><h2>Totals</h2><table class="totals">{body}</table></section>'


def _coverage(profile: QualityProfile) -> str:
    if not profile.months:
        return "<section><h2>Coverage over time</h2><p>No EffectiveDate column: no time line.</p></section>"
    bars = [
        Bar(f"{point.month:%Y-%m}", point.people, _change_word(point.change), _change_symbol(point.change))
        for point in profile.months
    ]
    chart = bar_chart(
        bars,
        chart_id="coverage",
        title="People per EffectiveDate month",
        x_label="EffectiveDate month",
        y_label="people",
    )
    marked = [point for point in profile.months if point.change is not None]
    if marked:
        lines = "".join(
            f"<tr><td>{point.month:%Y-%m}</td><td class='num'>{point.people:,}</td>"
            f"<td>{_change_word(point.change)}</td><td class='num'>{point.change_share:+.0%}</td></tr>"
            for point in marked
        )
        note = (
            f"<p class='warn'>WARNING: {len(marked)} month(s) moved by {_pct(SUDDEN_CHANGE_SHARE)} or more "
            "against the month before (hatched bars, marked jump or drop, or \u25b2 or \u25bc):</p>"
            "<table><tr><th>Month</th><th class='num'>People</th>"
            f"<th>Change</th><th class='num'>Against the month before</th></tr>{lines}</table>"
        )
    else:
        note = f"<p>No month moved by {_pct(SUDDEN_CHANGE_SHARE)} or more against the month before.</p>"
    return f"<section><h2>Coverage over time</h2>{chart}{note}</section>"


def _attributes(profile: QualityProfile) -> str:
    head = (
        "<tr><th>Attribute</th><th>Type</th><th class='num'>Filled</th><th class='num'>Unique values</th>"
        "<th>Five largest groups (people)</th><th>Warnings</th></tr>"
    )
    body = "".join(_attribute_row(attribute) for attribute in profile.attributes)
    estimated = ""
    if any(not attribute.exact for attribute in profile.attributes):
        estimated = (
            f"<p class='muted' id='estimated'>{ESTIMATE_MARK} marks an estimate: the report keeps at most "
            f"{VALUE_CAP:,} values and {PAIR_CAP:,} (value, person) pairs of an attribute. Past them, the "
            "unique values are estimated (within about 2%), and a group's people are counted once per "
            "change of value along each person's rows (a person whose value goes back to an earlier "
            "one counts twice).</p>"
        )
    return (
        "<section><h2>Attributes</h2>"
        f"<p class='muted'>Filled: share of rows with a value. Groups count people; a group under "
        f"{PRIVACY_MINIMUM} people is shown without its value, and emails, dates and decimals as counts "
        f"only.</p>{estimated}<table id='attributes'>{head}{body}</table></section>"
    )


def _attribute_row(attribute: AttributeProfile) -> str:
    mark = "" if attribute.exact else ESTIMATE_MARK
    groups = ", ".join(
        f"{'(hidden)' if group.label is None else escape(group.label)}: {mark}{group.people:,}"
        for group in attribute.largest_groups
    )
    warnings = "; ".join(f"WARNING: {warning.value}" for warning in attribute.warnings)
    if AttributeWarning.SMALL_GROUPS in attribute.warnings:
        warnings += (
            f" ({mark}{attribute.small_groups:,} group(s), {mark}{attribute.people_in_small_groups:,} people)"
        )
    return (
        f"<tr><td>{escape(attribute.name)}</td><td>{attribute.kind.value}</td>"
        f"<td class='num'>{_pct(attribute.filled_share)}</td>"
        f"<td class='num'>{mark}{attribute.unique_values:,}</td>"
        f"<td>{groups or '-'}</td><td class='warn'>{warnings or '<span class=muted>none</span>'}</td></tr>"
    )


def _gates(profile: QualityProfile) -> str:
    if not profile.gates:
        return ""
    rows = "".join(
        f"<tr><td>{escape(gate.column)}</td><td class='num'>"
        f"{_pct(gate.share) if gate.present else 'column absent'}</td>"
        f"<td>{'PASS' if gate.passed else 'FAIL'}</td></tr>"
        for gate in profile.gates
    )
    return (
        "<section class='keep'><h2>Microsoft 365 coverage gates</h2><p>Each gated attribute must be "
        f"filled for at least {_pct(M365_COVERAGE_GATE)} of people.</p><table><tr><th>Attribute</th>"
        f"<th class='num'>People covered</th><th>Gate</th></tr>{rows}</table></section>"
    )


def _org(org: OrgTree | None) -> str:
    if org is None:
        return "<section><h2>The org tree</h2><p>No manager column: no org tree.</p></section>"
    facts = [
        f"{org.people:,} people (each on their latest row), {org.managers:,} of them managers.",
        f"{org.tops:,} with no manager (the top leader; more than one means co-leaders).",
        f"{org.manager_not_in_file:,} whose manager has no row in the file.",
        f"{org.in_cycles:,} on a reporting loop.",
        f"{org.unknown_depth:,} whose depth cannot be computed (the chain breaks or loops above them).",
    ]
    depth = bar_chart(
        [Bar(str(level), count) for level, count in sorted(org.depth_counts.items())],
        chart_id="depth",
        title="People per depth (0 = the top)",
        x_label="depth: managers above the person",
        y_label="people",
    )
    span = bar_chart(
        [Bar(label, count) for label, count in org.span_counts],
        chart_id="span",
        title="Managers per span of control",
        x_label="direct reports",
        y_label="managers",
    )
    layer = "<h3>Layer against the computed depth</h3>"
    if org.layer_vs_depth is None:
        layer += "<p>No Layer column.</p>"
    else:
        layer += (
            f"<p>Layer equals the computed depth for {org.layer_matches:,} of {org.layer_compared:,} people"
            f"{'' if org.layer_matches == org.layer_compared else ' (WARNING: the others differ)'}.</p>"
        )
        cells = "".join(
            f"<tr><td class='num'>{lay}</td><td class='num'>{dep}</td><td class='num'>{count:,}</td>"
            f"<td>{'same' if lay == dep else 'differs'}</td></tr>"
            for (lay, dep), count in sorted(org.layer_vs_depth.items())
        )
        layer += (
            "<table><tr><th class='num'>Layer</th><th class='num'>Computed depth</th>"
            f"<th class='num'>People</th><th></th></tr>{cells}</table>"
        )
    items = "".join(f"<li>{escape(fact)}</li>" for fact in facts)
    return f"<section><h2>The org tree</h2><ul class='plain'>{items}</ul>{depth}{span}{layer}</section>"


def _hire(profile: QualityProfile) -> str:
    hire = profile.hire
    if hire is None:
        return "<section class='keep'><h2>HireDate</h2><p>No HireDate column.</p></section>"
    rows = [
        ("People with a HireDate", hire.dated),
        (f"Tenure of {LONG_TENURE_YEARS} years or more", hire.long_tenure),
        (f"HireDate after {profile.reference_day.isoformat()} (in the future)", hire.future),
        ("HireDate that is not a date", hire.unreadable),
    ]
    cells = "".join(
        f"<tr><th>{escape(name)}</th><td class='num'>{count:,}</td>"
        f"<td>{'WARNING' if count and index else ''}</td></tr>"
        for index, (name, count) in enumerate(rows)
    )
    return (
        "<section class='keep'><h2>HireDate</h2><p class='muted'>On each person's latest row, of "
        f"{hire.people:,} people.</p><table>{cells}</table></section>"
    )


def _placeholders(attributes: Sequence[AttributeProfile]) -> str:
    listed = [*PLACEHOLDER_TEXTS, *(day.isoformat() for day in PLACEHOLDER_DATES)]
    found = [attribute for attribute in attributes if attribute.placeholders]
    intro = (
        "<p class='muted'>Values HR systems use for \"unknown\": "
        + ", ".join(f"<code>{escape(text)}</code>" for text in listed)
        + " (dates in any form the column is read in).</p>"
    )
    if not found:
        return f"<section class='keep'><h2>Placeholder values</h2>{intro}<p>None found.</p></section>"
    rows = "".join(
        f"<tr><td>{escape(attribute.name)}</td><td>{_placeholder_counts(attribute.placeholders)}</td></tr>"
        for attribute in found
    )
    return (
        f"<section class='keep'><h2>Placeholder values</h2>{intro}<table id='placeholders'>"
        f"<tr><th>Column</th><th>Placeholders (rows)</th></tr>{rows}</table></section>"
    )


def _placeholder_counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"<code>{escape(text)}</code>: {count:,}" for text, count in counts.items())


def _findings(profile: QualityProfile, *, show_examples: bool) -> str:
    if profile.kind is InputKind.M365_CSV:
        return (
            "<section><h2>Findings by rule</h2><p>Viva's HR-upload rules do not apply to a Microsoft 365 "
            "export; see the coverage gates.</p></section>"
        )
    if not profile.findings_judged:
        return "<section><h2>Findings by rule</h2><p>Not validated.</p></section>"
    if not profile.findings:
        return "<section><h2>Findings by rule</h2><p>No findings: every checked rule holds.</p></section>"
    rows = []
    for finding in profile.findings:
        rows.append(
            f"<tr><td>{finding.severity.value.upper()}</td><td><code>{escape(finding.rule.id)}</code></td>"
            f"<td class='num'>{finding.count:,}</td><td>{escape(SOURCE_SENTENCES[finding.rule])}"
            f"<br><span class='muted'>Source: {escape(finding.rule.source)}</span></td>"
            f"<td>{escape(FIXES[finding.rule])}</td></tr>"
        )
        if show_examples and finding.examples:
            rows.append(f"<tr><td></td><td colspan='4'>{_examples(finding.examples)}</td></tr>")
    return (
        "<section><h2>Findings by rule</h2><table id='findings'><tr><th>Severity</th><th>Rule</th>"
        "<th class='num'>Count</th><th>What the documentation says</th><th>Fix</th></tr>"
        f"{''.join(rows)}</table></section>"
    )


def _examples(issues: Iterable[Issue]) -> str:
    """The first findings of a rule: where, the value, the message (personal data: on request only)."""
    items = []
    for issue in issues:
        where = ", ".join(
            part
            for part in (
                f"row {issue.row}" if issue.row else "",
                f"column {issue.column}" if issue.column else "",
            )
            if part
        )
        shown = f" value <code>{escape(issue.value)}</code>" if issue.value is not None else ""
        items.append(f"<li>{escape(where or 'file')}:{shown} {escape(issue.message)}</li>")
    return f"Examples:<ul class='plain'>{''.join(items)}</ul>"


def _changes(delivery: Delivery | None) -> str:
    title = "<h2>What changed since the last delivery</h2>"
    if delivery is None or delivery.changes is None:
        reason = delivery.no_changes_reason if delivery is not None else "no delivery ledger was compared"
        return f"<section class='keep'>{title}<p>Not known: {escape(reason)}.</p></section>"
    changes = delivery.changes
    rows = [
        ("People added", changes.people_added),
        ("People removed (held by Viva, absent from the file)", changes.people_removed),
        ("People changed", changes.people_changed),
        ("Rows new", changes.rows_new),
        ("Rows changed", changes.rows_changed),
        ("Rows unchanged", changes.rows_unchanged),
    ]
    cells = "".join(f"<tr><th>{escape(name)}</th><td class='num'>{count:,}</td></tr>" for name, count in rows)
    since = f"<p>Against {escape(changes.last_delivery)}.</p>" if changes.last_delivery else ""
    return f"<section class='keep'>{title}{since}<table id='changes'>{cells}</table></section>"


def _footer(show_examples: bool) -> str:
    privacy = (
        "This report shows example rows with their values (--show-examples): it holds personal data."
        if show_examples
        else f"This report holds aggregates only: no names, addresses or dates of a person, and no "
        f"group under {PRIVACY_MINIMUM} people is named."
    )
    made_by = "Made by target-viva-insights; the page loads nothing from the network."
    return f"<footer><p>{privacy} {made_by}</p></footer>"


def _change_word(change: Change | None) -> str | None:
    return None if change is None else {Change.JUMP: "jump", Change.DROP: "drop"}[change]


def _change_symbol(change: Change | None) -> str | None:
    return None if change is None else {Change.JUMP: "\u25b2", Change.DROP: "\u25bc"}[change]


def _pct(share: float) -> str:
    """Whole percents, except that a share under 1% (or just under 100%) is never shown as 0% (or 100%)."""
    if 0 < share < 0.01 or 0.99 < share < 1:
        return f"{share:.2%}"
    return f"{share:.0%}"
