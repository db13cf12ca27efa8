"""The Quick start's main job: `meltano run tap-hrsource target-viva-insights` against the local emulator.

Run through `python3 run.py demo`, which sets up the venv first. Steps: start the emulator of the Viva
Insights HR data ingress API (HTTPS on 127.0.0.1, its own CA), point the target at it with
TARGET_VIVA_INSIGHTS_* variables, run the pipeline on the sample HR data, then show what the
emulator received and the state Meltano stored, and take a screenshot of the data-quality report (when
a Chromium is installed). Output lands in output/ (git-ignored).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import uuid
from pathlib import Path

from target_viva_insights.emulator.process import EmulatorHandle, running_emulator
from target_viva_insights.quality.browser import ENABLE_HINT, find_chromium, screenshot

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "output"
STATE_ID = "dev:tap-hrsource-to-target-viva-insights"


def pipeline_environment(emulator: EmulatorHandle) -> dict[str, str]:
    env = dict(os.environ)
    for name, value in emulator.config(poll_interval_seconds=1, await_timeout_minutes=10).items():
        env[f"TARGET_VIVA_INSIGHTS_{name.upper()}"] = str(value)
    env["MELTANO_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    return env


def meltano(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    executable = Path(sys.executable).parent / "meltano"
    return subprocess.run([str(executable), *args], cwd=ROOT, env=env, text=True, check=False)


def show_result(emulator: EmulatorHandle, env: dict[str, str]) -> None:
    ingestions = emulator.state().get("ingestions", [])
    print("\nWhat the emulated Viva Insights service received:")
    for ingestion in ingestions:
        print(f"  ingestion {ingestion['Id']}: {ingestion['Status']}, {ingestion['Bytes']:,} bytes kept in")
        print(f"    {ingestion['Upload']}")
    held = emulator.org_data(records=False, row_digests=False)
    print(f"What the emulated tenant now holds: {held['rows']:,} rows for {held['people']:,} people")
    print(f"\nPackages and validation reports: {OUTPUT / 'packages'}")
    print(f"State stored by Meltano ({STATE_ID}):")
    meltano("--log-level=warning", "--environment=dev", "state", "get", STATE_ID, env=env)


def screenshot_of_report() -> None:
    """A PNG of the run's data-quality report, beside it, when a Chromium is installed."""
    reports = sorted((OUTPUT / "packages").glob("*-quality.html"), key=lambda path: path.stat().st_mtime)
    if not reports:
        print("No data-quality report was written.")
        return
    print(f"Data-quality report: {reports[-1]}")
    chromium = find_chromium()
    if chromium is None:
        print(f"No screenshot of the report: no Chromium found; to enable: {ENABLE_HINT}")
        return
    png = screenshot(reports[-1], reports[-1].with_suffix(".png"), chromium)
    print(f"Screenshot of the report: {png}")


def run_to_microsoft_365(emulator: EmulatorHandle, env: dict[str, str]) -> int:
    """The same pipeline to the other destination: Organizational data in Microsoft 365 (MODIS)."""
    print("\nThe same sample to Organizational data in Microsoft 365 (destination: m365):")
    m365 = {**env, "TARGET_VIVA_INSIGHTS_DESTINATION": "m365"}
    result = meltano("run", "--full-refresh", "tap-hrsource", "target-viva-insights", env=m365)
    if result.returncode != 0:
        failed = f"\nThe m365 pipeline failed (exit code {result.returncode}); see the log above."
        print(failed, file=sys.stderr)
        return result.returncode
    held = emulator.modis()
    print(f"What the emulated tenant now holds in Microsoft 365: {held['person_count']:,} people")
    return 0


def main() -> int:
    OUTPUT.mkdir(exist_ok=True)
    registration = {
        "tenant_id": str(uuid.uuid4()),
        "client_id": str(uuid.uuid4()),
        "client_secret": secrets.token_urlsafe(24),  # a fresh one each run, never printed
    }
    with running_emulator(OUTPUT / "emulator", **registration) as emulator:
        print(f"Emulator of the Viva Insights API at {emulator.api_base_url} (CA: {emulator.ca_bundle})")
        env = pipeline_environment(emulator)
        # --full-refresh: the demo always sends the whole sample; a scheduled run would send changes only.
        result = meltano("run", "--full-refresh", "tap-hrsource", "target-viva-insights", env=env)
        if result.returncode != 0:
            message = f"\nThe pipeline failed (exit code {result.returncode}); see the log above."
            print(message, file=sys.stderr)
            return result.returncode
        show_result(emulator, env)
        returncode = run_to_microsoft_365(emulator, env)
        if returncode != 0:
            return returncode
    screenshot_of_report()
    print("\nDone: the sample HR data went through the whole pipeline.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
