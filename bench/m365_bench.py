#!/usr/bin/env python3
"""The m365 destination's delta beside the legacy ledger comparison, on the same package, in one run.

Usage: python bench/m365_bench.py [--sizes 1000000]

For each size: our target builds the package from the generated stream (dry run, as ledger_bench.py
does). Then, each in its own process so its peak RSS is its own:
(1) legacy: the package is recorded in a fresh ledger (`adopt`), then compared against it (`compare`,
    what every `import_mode: auto` run adds before an upload);
(2) m365: a first delta against an empty state (everyone sent) whose state is stored in the ledger
    folder, then a second delta against that state (`m365 compare`: current row per person, digests per
    attribute, comparison; the unchanged input sends nobody).
The line to read is the ratio of the two comparisons' own times (m365 compare / legacy compare).
"""

from __future__ import annotations

import argparse
import datetime
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import run_measured
from ledger_bench import TENANT
from ledger_bench import step as legacy_step
from target_bench import OUR_TARGET, WORK, ensure_input


def m365_step(action: str, package: Path, ledger_root: Path) -> int:
    """One measured m365 step in this (child) process; prints a JSON line with what it saw."""
    import resource

    import pyarrow as pa
    from target_viva_insights.destinations.m365.columns import plan_columns
    from target_viva_insights.destinations.m365.delta import (
        AddressSealer,
        compute_delta,
        current_rows,
        empty_state,
    )
    from target_viva_insights.ledger.store import Ledger
    from target_viva_insights.package import open_package

    pa.set_memory_pool(pa.system_memory_pool())
    after_imports_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    ledger = Ledger(str(ledger_root), TENANT)
    state = ledger.read_m365_state() if action == "m365-compare" else empty_state()
    assert state is not None, "the first m365 step stores the state"
    with open_package(package) as opened:
        kinds = {field.header: field.kind for field in opened.fields}
        current = current_rows(
            opened.data, ledger.digester, date_order=opened.date_order, today=datetime.date.today()
        )
    supervisor = (
        current.table.column("SupervisorIndicator").unique().to_pylist()
        if "SupervisorIndicator" in kinds
        else []
    )
    plan = plan_columns(kinds, supervisor_values=supervisor)
    delta = compute_delta(
        current, plan.columns, state, ledger.digester, AddressSealer(ledger.key), date_order=opened.date_order
    )
    compared = time.perf_counter() - start
    if action == "m365-first":
        with ledger.locked():
            ledger.write_m365_state(delta.new_state)
    result: dict[str, object] = dict(delta.summary())
    result["seconds_inside"] = round(compared, 3)
    result["rss_after_imports_mb"] = round(after_imports_mb, 1)
    result["rss_above_imports_mb"] = round(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - after_imports_mb, 1
    )
    print(json.dumps(result), file=sys.stderr)
    return 0


def bench(size: int) -> None:
    stream = ensure_input(size)
    scratch = WORK / f"m365-{size}"
    shutil.rmtree(scratch, ignore_errors=True)
    (scratch / "out").mkdir(parents=True)
    config = scratch / "config.json"
    config.write_text(
        json.dumps({"dry_run": True, "output_dir": str(scratch / "out"), "import_mode": "full"})
    )
    build = run_measured([str(OUR_TARGET), "--config", str(config)], stream, scratch / "build.log")
    packages = sorted((scratch / "out").glob("viva-insights-*Z.zip"))
    if build.exit_code != 0 or not packages:
        print(f"package build failed (exit {build.exit_code}); see {scratch / 'build.log'}")
        return
    package = packages[-1]
    me = [sys.executable, str(Path(__file__).resolve())]
    steps = ("adopt", "compare", "m365-first", "m365-compare")
    measured = {}
    for name in steps:
        ledger = scratch / ("ledger" if name in ("adopt", "compare") else "m365-ledger")
        measured[name] = run_measured(
            [*me, "--step", name, str(package), str(ledger)], Path("/dev/null"), scratch / f"{name}.log"
        )
    said = {
        name: json.loads((scratch / f"{name}.log").read_text().strip().splitlines()[-1]) for name in steps
    }
    print(
        f"{size:>9,} rows  package build (dry run): {build.seconds:6.2f} s  {build.peak_rss_mb:6.1f} MB peak"
    )
    for name in steps:
        inside = said[name]
        run = measured[name]
        print(
            f"{'':>14}{name + ':':<16}{run.seconds:6.2f} s  {run.peak_rss_mb:6.1f} MB peak  (the step "
            f"itself: {inside['seconds_inside']:.2f} s, {inside['rss_above_imports_mb']:.0f} MB over imports)"
        )
    print(f"{'':>14}legacy compare said: {said['compare']}")
    print(f"{'':>14}m365 first said: {said['m365-first']}")
    print(f"{'':>14}m365 compare said: {said['m365-compare']}")
    ratio = said["m365-compare"]["seconds_inside"] / said["compare"]["seconds_inside"]
    print(f"{'':>14}m365 compare / legacy compare: {ratio:.2f}x (the step's own time)")
    shutil.rmtree(scratch, ignore_errors=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--step", nargs=3, metavar=("ACTION", "PACKAGE", "LEDGER"), help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    if arguments.step:
        action, package, ledger_root = arguments.step
        if action.startswith("m365"):
            return m365_step(action, Path(package), Path(ledger_root))
        return legacy_step(action, Path(package), Path(ledger_root))
    for size in arguments.sizes:
        bench(size)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
