"""The data-quality report of the sample data, opened in a real headless Chromium (Playwright).

The figures on the page are checked against the data itself, read here with the csv module; the page
must make no request outside its own file and log no console error. Needs Debian's `chromium` (found on
PATH or through $CHROMIUM_PATH); without it the module is skipped with one line saying how to enable it.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from target_viva_insights.quality.browser import ENABLE_HINT, find_chromium, opened_report

CHROMIUM = find_chromium()
if CHROMIUM is None or importlib.util.find_spec("playwright") is None:
    pytest.skip(
        f"browser test of the data-quality report skipped: no Chromium found; to enable: {ENABLE_HINT}",
        allow_module_level=True,
    )

ROOT = Path(__file__).resolve().parents[3]
SAMPLE = ROOT / "sample-data" / "hr" / "employees.csv"
BIN = Path(sys.executable).parent
TAP_CONFIG = {
    "streams": [
        {
            "name": "employees",
            "path": str(SAMPLE),
            "key_properties": ["PersonId", "EffectiveDate"],
            "history": "monthly_snapshots",
            "person_key": "PersonId",
            "effective_date_column": "EffectiveDate",
            "end_date_column": "TerminationDate",
            "months": 13,
            "snapshot_end_date": "2026-10-01",
        }
    ]
}


def figures(rows: list[dict[str, str]], date_order: str) -> tuple[int, int, int]:
    """People, rows and EffectiveDate months of data.csv rows, counted independently of the report."""
    months = set()
    for row in rows:
        text = row["EffectiveDate"]
        if date_order == "iso":
            months.add(text[:7])
        else:  # MM/DD/YYYY
            month, _, year = text.split("/")
            months.add(f"{year}-{month}")
    return len({row["PersonId"] for row in rows}), len(rows), len(months)


def check_page(html: Path, expected: tuple[int, int, int]) -> None:
    assert CHROMIUM is not None
    with opened_report(html, CHROMIUM) as opened:
        page = opened.page
        shown = tuple(
            int(page.inner_text(f"#total-{name}").replace(",", "")) for name in ("people", "rows", "months")
        )
        assert shown == expected
        assert page.locator("svg.chart").count() >= 3  # coverage, depth, span of control
        assert page.locator("svg.chart rect").count() > expected[2]  # a bar per month at least
        assert page.title().startswith("Data-quality report: ")
        assert page.locator("script").count() == 0
        page.emulate_media(media="print")
        assert page.pdf()[:4] == b"%PDF"  # it lays out for print
        assert opened.requests_outside == []
        assert opened.console_errors == []


def test_report_of_the_sample_csv_in_a_real_browser(tmp_path: Path) -> None:
    out = tmp_path / "sample.html"
    result = subprocess.run(
        [str(BIN / "viva-insights"), "report", str(SAMPLE), "-o", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    with SAMPLE.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    check_page(out, figures(rows, "iso"))


def test_report_beside_the_package_of_the_sample_data_in_a_real_browser(tmp_path: Path) -> None:
    """tap-hrsource's 13 monthly snapshots of the sample, through the target (dry run): the report the
    README's screenshot shows."""
    tap_config = tmp_path / "tap.json"
    tap_config.write_text(json.dumps(TAP_CONFIG))
    target_config = tmp_path / "target.json"
    out = tmp_path / "out"
    target_config.write_text(json.dumps({"output_dir": str(out), "dry_run": True}))
    tap = subprocess.run(
        [str(BIN / "tap-hrsource"), "--config", str(tap_config)], capture_output=True, check=True, timeout=300
    )
    target = subprocess.run(
        [str(BIN / "target-viva-insights"), "--config", str(target_config)],
        input=tap.stdout,
        capture_output=True,
        check=False,
        timeout=300,
    )
    assert target.returncode == 0, target.stderr.decode()[-3000:]
    (package,) = out.glob("viva-insights-*Z.zip")
    html = package.with_name(package.stem + "-quality.html")
    assert f"Data-quality report: {html}" in target.stderr.decode()
    with zipfile.ZipFile(package) as archive:
        rows = list(csv.DictReader(io.StringIO(archive.read("data.csv").decode("utf-8"))))
    expected = figures(rows, "mdy")
    assert expected[2] == 13
    check_page(html, expected)


def test_the_watch_sees_a_request_outside_the_file_and_a_console_error(tmp_path: Path) -> None:
    """What the checks above rely on: a page that does fetch and does log an error is caught (the request
    is aborted, so nothing leaves the machine)."""
    page = tmp_path / "leaky.html"
    page.write_text(
        '<!DOCTYPE html><html><body><img src="https://example.invalid/pixel.png">'
        '<script>console.error("boom")</script></body></html>',
        encoding="utf-8",
    )
    assert CHROMIUM is not None
    with opened_report(page, CHROMIUM) as opened:
        opened.page.wait_for_load_state("load")
        assert opened.requests_outside == ["https://example.invalid/pixel.png"]
        assert "boom" in opened.console_errors
