#!/usr/bin/env python3
"""The delivery ledger's comparison beside the package build, at the same size.

Usage: python bench/ledger_bench.py [--sizes 1000000]

For each size: (1) our target builds the package from the generated stream (dry run, as in
target_bench.py), measured; (2) the package is recorded in a fresh ledger (`adopt`), measured;
(3) the package is compared against that ledger (read data.csv in Arrow batches, keyed digests,
join), measured: this is what every `import_mode: auto` run adds before an upload. Each step runs
in its own process, so the peak RSS is that step's own.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Measurement, run_measured
from target_bench import OUR_TARGET, WORK, ensure_input

TENANT = "00000000-0000-0000-0000-0000000000be"


def step(action: str, package: Path, ledger_root: Path) -> int:
    """One measured step in this (child) process; prints a JSON line with what it saw."""
    import resource

    import pyarrow as pa
    from target_viva_insights.ledger.digests import digest_batches, open_for_digests
    from target_viva_insights.ledger.store import (
        ImportMode,
        IngestionRecord,
        Keep,
        Ledger,
        now_iso,
        package_sha256,
    )

    pa.set_memory_pool(pa.system_memory_pool())  # as the target does: freed batches go back to the OS
    after_imports_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    ledger = Ledger(str(ledger_root), TENANT)
    with open_for_digests(package) as (batches, date_order):
        if action == "adopt":
            digests = digest_batches(ledger.digester, batches, date_order)
        else:
            comparison, _ = ledger.compare_batches(batches, date_order, keep=Keep.NEW_OR_CHANGED)
    if action == "adopt":
        people = len(set(digests.person.tolist()))
        record = IngestionRecord(
            "bench", now_iso(), ImportMode.FULL, len(digests), people, package_sha256(package)
        )
        with ledger.locked():
            ledger.record_completed(record, digests)
        result = {"rows": len(digests)}
    else:
        result = comparison.summary()
    result["seconds_inside"] = round(time.perf_counter() - start, 3)
    result["rss_after_imports_mb"] = round(after_imports_mb, 1)
    result["rss_above_imports_mb"] = round(
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - after_imports_mb, 1
    )
    print(json.dumps(result), file=sys.stderr)
    return 0


def measure(command: list[str], log: Path) -> Measurement:
    return run_measured(command, Path("/dev/null"), log)


def bench(size: int) -> None:
    stream = ensure_input(size)
    scratch = WORK / f"ledger-{size}"
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
    adopt = measure([*me, "--step", "adopt", str(package), str(scratch / "ledger")], scratch / "adopt.log")
    compare = measure(
        [*me, "--step", "compare", str(package), str(scratch / "ledger")], scratch / "compare.log"
    )
    said = {
        name: json.loads((scratch / f"{name}.log").read_text().strip().splitlines()[-1])
        for name in ("adopt", "compare")
    }
    print(
        f"{size:>9,} rows  package build (dry run): {build.seconds:6.2f} s  {build.peak_rss_mb:6.1f} MB peak"
    )
    for name, measured in (("adopt", adopt), ("compare", compare)):
        inside = said[name]
        print(
            f"{'':>14}ledger {name + ':':<18}{measured.seconds:6.2f} s  {measured.peak_rss_mb:6.1f} MB peak"
            f"  (the step itself: {inside['seconds_inside']:.2f} s, "
            f"{inside['rss_above_imports_mb']:.0f} MB above the "
            f"{inside['rss_after_imports_mb']:.0f} MB of the interpreter and its imports)"
        )
    print(f"{'':>14}compare said: {said['compare']}")
    shutil.rmtree(scratch, ignore_errors=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--step", nargs=3, metavar=("ACTION", "PACKAGE", "LEDGER"), help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    if arguments.step:
        action, package, ledger_root = arguments.step
        return step(action, Path(package), Path(ledger_root))
    for size in arguments.sizes:
        bench(size)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
