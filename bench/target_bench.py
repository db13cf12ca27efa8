#!/usr/bin/env python3
"""Benchmark target-viva-insights against meltanolabs-target-csv 0.5.0, side by side in one run.

Usage: python bench/target_bench.py [--sizes 200000 1000000] [--repeat 1] [--profile]

For each N: generate (or reuse) an HR stream of N records, then run both targets alternately on
it, with stdout discarded, and measure each child's wall time and peak RSS. The machine is shared
and noisy, so the report states ratios measured in the same run; absolute figures vary run to run.
Goals (from the issue): ours >= 10x the peer's records/s (15x at 1,000,000) and ours <= 150 MB
peak RSS.
Nothing here is a test: there are deliberately no timing assertions.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pstats
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import venv
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Measurement, run_measured

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WORK = BENCH / ".work"
GENERATOR = BENCH / "generate_hr_stream.py"
OUR_BIN = ROOT / ".venv" / "bin"
OUR_TARGET = OUR_BIN / "target-viva-insights"
PEER_SPEC = "meltanolabs-target-csv==0.5.0"
PEER_VENV = WORK / "peer-venv"
PEER_TARGET = PEER_VENV / "bin" / "target-csv"
OURS, PEER = "target-viva-insights", "target-csv 0.5.0"
# The goals: ours >= 10x the peer's records/s, and >= 15x from 1,000,000 records on.
SPEED_GOAL = 10.0
SPEED_GOAL_FROM_1M = 15.0
RSS_GOAL_MB = 150.0


@dataclass(frozen=True)
class Run:
    """One measured run of one target on one input."""

    size: int
    target: str
    measurement: Measurement
    log: Path


def ensure_peer() -> None:
    """Install the peer once into its own venv; the stamp file says which spec is in it."""
    stamp = PEER_VENV / ".installed"
    if PEER_TARGET.exists() and stamp.exists() and stamp.read_text().strip() == PEER_SPEC:
        return
    print(f"Installing {PEER_SPEC} into {PEER_VENV} ...", flush=True)
    venv.EnvBuilder(with_pip=True, clear=True).create(PEER_VENV)
    pip = [str(PEER_VENV / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, PEER_SPEC], check=True)
    stamp.write_text(PEER_SPEC + "\n")


def ensure_input(size: int) -> Path:
    """The stream for `size`, cached under a name that changes whenever the generator changes."""
    digest = hashlib.sha256(GENERATOR.read_bytes()).hexdigest()[:10]
    path = WORK / f"hr-stream-{size}-{digest}.jsonl"
    if not path.exists():
        WORK.mkdir(parents=True, exist_ok=True)
        print(f"Generating {size:,} records into {path.name} ...", flush=True)
        partial = path.with_suffix(".partial")
        # Write aside and rename, so an interrupted run never leaves a truncated input in the cache.
        subprocess.run([sys.executable, str(GENERATOR), str(size), str(partial)], check=True)
        partial.replace(path)
    return path


def target_command(target: str, output_dir: Path) -> list[str]:
    """Command line of `target` writing into `output_dir`, with its config file placed beside it."""
    if target == PEER:
        config = {"output_path": str(output_dir)}  # everything else at the peer's defaults
        executable = PEER_TARGET
    else:
        config = {"dry_run": True, "output_dir": str(output_dir), "validate_records": True}
        executable = OUR_TARGET
    config_path = output_dir.parent / "config.json"
    config_path.write_text(json.dumps(config))
    return [str(executable), "--config", str(config_path)]


def run_target(target: str, size: int, input_path: Path, index: int) -> Run:
    """Run one target once in a fresh temp dir (removed afterwards); keep only its stderr log."""
    slug = "ours" if target == OURS else "peer"
    log = WORK / "logs" / f"{slug}-{size}-{index}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f"run-{slug}-{size}-", dir=WORK))
    try:
        (scratch / "out").mkdir()
        measurement = run_measured(target_command(target, scratch / "out"), input_path, log)
        if target == PEER and measurement.exit_code == 0:
            check_peer_output(scratch / "out", size)
        if target == OURS and measurement.exit_code == 0:
            check_our_log(log, size)
    except OSError as error:  # e.g. our target is not installed yet: report it, keep benchmarking
        log.write_text(f"could not start {target}: {error}\n")
        measurement = Measurement(seconds=0.0, peak_rss_mb=0.0, exit_code=127)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    run = Run(size, target, measurement, log)
    print(f"  {describe(run)}", flush=True)
    if measurement.exit_code != 0:
        print(f"  FAILED: {target} exited with {measurement.exit_code}; last lines of {log}:", flush=True)
        print(tail(log), flush=True)
    return run


def check_peer_output(output_dir: Path, size: int) -> None:
    """Warn when the peer's CSV does not hold all N rows (a header plus one line per record)."""
    rows = 0
    for path in output_dir.rglob("*.csv"):
        with path.open("rb") as csv_file:
            rows += sum(1 for _ in csv_file) - 1
    if rows != size:
        print(f"  WARNING: the peer wrote {rows:,} CSV rows for {size:,} records", flush=True)


def check_our_log(log: Path, size: int) -> None:
    """Warn unless our target reports checking all N rows without errors (a fast run must do the work)."""
    found = re.search(r"(\d+) rows checked, (\d+) errors", log.read_text(errors="replace"))
    if found is None:
        print(f"  WARNING: no 'rows checked' summary in {log}", flush=True)
    elif int(found[1]) != size or int(found[2]) != 0:
        print(
            f"  WARNING: our target checked {found[1]} rows and found {found[2]} errors; see {log}",
            flush=True,
        )


def describe(run: Run) -> str:
    m = run.measurement
    rate = run.size / m.seconds if m.seconds else 0.0
    status = "ok" if m.exit_code == 0 else f"EXIT {m.exit_code}"
    return (
        f"{run.target:22} N={run.size:>9,}  {m.seconds:8.2f} s  {rate:>10,.0f} rec/s  "
        f"{m.cpu_seconds:8.2f} s CPU  {m.peak_rss_mb:8.1f} MB  {status}"
    )


def tail(path: Path, lines: int = 15) -> str:
    text = path.read_text(errors="replace").splitlines()
    return "\n".join("    | " + line[:300] for line in text[-lines:])


def bench_size(size: int, repeat: int) -> list[Run]:
    """Alternate the two targets, swapping who goes first each round so neither always runs cold."""
    input_path = ensure_input(size)
    runs = []
    for index in range(repeat):
        order = (PEER, OURS) if index % 2 == 0 else (OURS, PEER)
        runs.extend(run_target(target, size, input_path, index) for target in order)
    return runs


def summarize(runs: list[Run]) -> tuple[float, float, float, bool]:
    """Median seconds, median CPU seconds, worst peak RSS and whether every run succeeded."""
    seconds = statistics.median(run.measurement.seconds for run in runs)
    cpu = statistics.median(run.measurement.cpu_seconds for run in runs)
    peak = max(run.measurement.peak_rss_mb for run in runs)
    return seconds, cpu, peak, all(run.measurement.exit_code == 0 for run in runs)


def report(runs: list[Run], repeat: int) -> str:
    """Markdown table of both targets per size, then the ratios against the goals."""
    lines = [
        f"Seconds are the median of {repeat} run(s); peak RSS is the maximum over them.",
        "",
        "| N | target | seconds | records/s | CPU seconds | peak RSS MB | status |",
        "|---:|---|---:|---:|---:|---:|---|",
    ]
    ratios = ["", "| N | ours/peer records/s | ours/peer by CPU time "
              "| our peak RSS vs 150 MB goal | peer/our RSS |", "|---:|---:|---:|---:|---:|"]  # fmt: skip
    for size in sorted({run.size for run in runs}):
        figures = {}
        for target in (PEER, OURS):
            selected = [run for run in runs if run.size == size and run.target == target]
            seconds, cpu, peak, ok = summarize(selected)
            rate = size / seconds if seconds else 0.0
            figures[target] = (rate, cpu, peak, ok)
            failed = "- | - | - | - | FAILED"
            shown = f"{seconds:.2f} | {rate:,.0f} | {cpu:.2f} | {peak:.1f} | ok" if ok else failed
            lines.append(f"| {size:,} | {target} | {shown} |")
        peer_rate, peer_cpu, peer_rss, peer_ok = figures[PEER]
        our_rate, our_cpu, our_rss, our_ok = figures[OURS]
        if peer_ok and our_ok:
            speed = our_rate / peer_rate
            goal = SPEED_GOAL_FROM_1M if size >= 1_000_000 else SPEED_GOAL
            speed_verdict = f"met (goal {goal:.0f}x)" if speed >= goal else f"MISSED (goal {goal:.0f}x)"
            cpu_ratio = f"{peer_cpu / our_cpu:.1f}x" if our_cpu else "n/a"
            rss_verdict = "met" if our_rss <= RSS_GOAL_MB else "MISSED"
            ratios.append(
                f"| {size:,} | {speed:.1f}x {speed_verdict} | {cpu_ratio} | "
                f"{our_rss:.1f} MB = {our_rss / RSS_GOAL_MB:.0%} {rss_verdict} | {peer_rss / our_rss:.1f}x |"
            )
        else:
            ratios.append(f"| {size:,} | n/a (a run failed) | n/a | n/a | n/a |")
    return "\n".join(lines + ratios)


def profile(size: int) -> None:
    """Run our target once under cProfile; print the top 25 by cumulative and the top 15 by own time."""
    input_path = ensure_input(size)
    prof = WORK / f"profile-{size}.prof"
    scratch = Path(tempfile.mkdtemp(prefix=f"profile-{size}-", dir=WORK))
    try:
        (scratch / "out").mkdir()
        command = target_command(OURS, scratch / "out")
        # The console script is a plain Python file, so cProfile can run it as the main program.
        profiled = [str(OUR_BIN / "python"), "-m", "cProfile", "-o", str(prof), *command]
        log = WORK / "logs" / f"profile-{size}.log"
        measurement = run_measured(profiled, input_path, log)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"\nProfile of {OURS} at N={size:,} (exit {measurement.exit_code}, {measurement.seconds:.1f} s "
          f"with profiling overhead) -> {prof}")  # fmt: skip
    if measurement.exit_code != 0 or not prof.exists():
        print(tail(log))
        return
    stats = pstats.Stats(str(prof))
    stats.sort_stats("cumulative").print_stats(25)
    # The cumulative list starts with the SDK's call chain; own time shows the hot spots directly.
    stats.sort_stats("tottime").print_stats(15)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[200_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=1, help="rounds per size (alternating targets)")
    parser.add_argument("--profile", action="store_true", help="also profile our target at each size")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    WORK.mkdir(parents=True, exist_ok=True)
    ensure_peer()
    if not os.access(OUR_TARGET, os.X_OK):
        print(f"note: {OUR_TARGET} is missing; its runs will fail (run `python3 run.py test` first)")
    runs: list[Run] = []
    for size in args.sizes:
        print(f"\nN = {size:,}", flush=True)
        runs.extend(bench_size(size, args.repeat))
    print("\n" + report(runs, args.repeat))
    if args.profile:
        for size in args.sizes:
            profile(size)
    return 0 if all(run.measurement.exit_code == 0 for run in runs) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
