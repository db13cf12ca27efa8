"""The report opened in a real headless Chromium (Playwright), for the browser test and the demo's screenshot.

Playwright for Python drives the system's Chromium (Debian's `chromium` package) through
`executable_path`: Playwright's own browser download is not needed. The browser starts with a new empty
profile and without its background services, and the page is watched: every request that is not the
report's own file is recorded (and refused), and so is every console error. Playwright is a
development dependency; this module imports it only when a page is opened.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from target_viva_insights.private_files import PRIVATE_FILE_MODE

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
ENABLE_HINT = "apt-get install chromium (Debian's package; Playwright's own browser download is not used)"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Wide enough for the report's tables; the screenshot takes the whole page height.
VIEWPORT_WIDTH, VIEWPORT_HEIGHT = 1100, 900


def find_chromium() -> str | None:
    """The system's Chromium: $CHROMIUM_PATH, else the first of the usual names on PATH."""
    configured = os.environ.get("CHROMIUM_PATH")
    if configured and Path(configured).is_file():
        return configured
    return next((found for name in CHROMIUM_NAMES if (found := shutil.which(name))), None)


@dataclasses.dataclass
class OpenedPage:
    """The page, and what it tried that a self-contained report must not do."""

    page: Any
    requests_outside: list[str] = dataclasses.field(default_factory=list)
    console_errors: list[str] = dataclasses.field(default_factory=list)


@contextlib.contextmanager
def opened_report(html: Path, chromium: str) -> Iterator[OpenedPage]:
    """`html` loaded in headless Chromium with a fresh profile; requests other than the file are aborted.

    Args:
        html: the report file.
        chromium: the browser's executable (`find_chromium`).

    Returns:
        A context manager giving the loaded page and the lists of refused requests and console errors.
    """
    from playwright.sync_api import sync_playwright

    address = html.resolve().as_uri()
    with tempfile.TemporaryDirectory(prefix="viva-report-browser-") as profile, sync_playwright() as driver:
        context = driver.chromium.launch_persistent_context(
            profile,
            executable_path=chromium,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": VIEWPORT_WIDTH, "height": VIEWPORT_HEIGHT},
            offline=True,
        )
        try:
            watched = OpenedPage(context.pages[0] if context.pages else context.new_page())

            def route(route: Any) -> None:
                if route.request.url == address:
                    route.continue_()
                else:
                    watched.requests_outside.append(route.request.url)
                    route.abort()

            context.route("**/*", route)
            watched.page.on(
                "console",
                lambda message: (
                    watched.console_errors.append(message.text) if message.type == "error" else None
                ),
            )
            watched.page.on("pageerror", lambda error: watched.console_errors.append(str(error)))
            watched.page.goto(address, wait_until="load")
            yield watched
        finally:
            context.close()


def screenshot(html: Path, png: Path, chromium: str) -> Path:
    """A full-page PNG of the report (0600 like the report: it shows the data's aggregates)."""
    with opened_report(html, chromium) as opened:
        opened.page.screenshot(path=str(png), full_page=True)
    png.chmod(PRIVATE_FILE_MODE)
    return png
