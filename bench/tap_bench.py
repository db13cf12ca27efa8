#!/usr/bin/env python3
"""Benchmark: tap-hrsource against tap-csv-folder on a 1,000,000-row HR CSV, in the same run.

Both taps turn the same CSV into Singer messages on stdout (sent to /dev/null). For each we measure
the wall time (rows per second) and the peak resident memory of the tap process (from wait4).
tap-csv-folder (PyPI 0.0.1a1, the SDK's CSV folder sample tap, every column a string) is installed
into its own venv under bench/.work/, which is git-ignored, as is the generated CSV.

Usage: .venv/bin/python bench/tap_bench.py [--rows N] [--repeat K]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import subprocess
import sys
import time
import venv
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / ".work"
PEER_VENV = WORK / "tap-csv-folder-venv"
PEER_REQUIREMENT = "tap-csv-folder==0.0.1a1"
HEADERS = [
    "EmployeeNumber", "PersonId", "ManagerId", "Organization", "FunctionType", "LevelDesignation", "Layer",
    "SupervisorIndicator", "Location", "CountryOrRegion", "HireDate", "EffectiveDate", "TerminationDate",
    "HourlyRate",
]  # fmt: skip
ORGANIZATIONS = ["Engineering", "Sales", "Marketing", "Finance", "Human Resources", "Operations", "Legal"]
FUNCTIONS = ["Software Engineering", "Account Management", "Accounting", "Talent Acquisition", "Support"]
LEVELS = ["Associate", "Professional", "Senior Professional", "Principal", "Manager", "Director"]
LOCATIONS = [("Redmond", "United States"), ("London", "United Kingdom"), ("Bangalore", "India")]
RECORD_COUNT = re.compile(r'"metric":\s*"record_count",\s*"value":\s*(\d+)')


@dataclass
class Measurement:
    tap: str
    seconds: float
    peak_rss_mb: float
    records: int

    @property
    def rows_per_second(self) -> float:
        return self.records / self.seconds


def private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)  # HR-shaped data, even if synthetic: keep it private
    return path


def write_hr_csv(path: Path, rows: int) -> None:
    """A synthetic HR history: 12 monthly rows per person, ids with leading zeros, dates, numbers."""
    rng = random.Random(4)  # reproducible benchmark data
    people = rows // 12
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(HEADERS)
        for number in range(rows):
            person, month = number % people, number // people
            location, country = LOCATIONS[person % len(LOCATIONS)]
            terminated = f"2025-{month + 1:02d}-20" if person % 50 == 0 and month == 11 else ""
            writer.writerow([
                f"{person:07d}", f"person{person}@contoso.com",
                "" if person == 0 else f"person{person // 8}@contoso.com",
                ORGANIZATIONS[person % len(ORGANIZATIONS)], FUNCTIONS[person % len(FUNCTIONS)],
                LEVELS[(person + month // 6) % len(LEVELS)], 1 + person.bit_length() // 3,
                "IC" if person * 8 >= people else "Mngr", location, country,
                f"20{10 + person % 15}-{1 + person % 12:02d}-{1 + person % 28:02d}",
                f"2025-{month + 1:02d}-01", terminated, f"{rng.uniform(20, 120):.2f}",
            ])  # fmt: skip


def ensure_peer_installed() -> Path:
    executable = PEER_VENV / "bin" / "tap-csv-folder"
    if not executable.exists():
        print(f"Installing {PEER_REQUIREMENT} into {PEER_VENV} ...", file=sys.stderr)
        venv.EnvBuilder(with_pip=True).create(PEER_VENV)
        pip = [
            str(PEER_VENV / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ]
        subprocess.run([*pip, PEER_REQUIREMENT], check=True)
    return executable


def measure(tap: str, command: list[str], log: Path) -> Measurement:
    """Run the tap with stdout to /dev/null; peak RSS of exactly this child comes from wait4."""
    with Path(os.devnull).open("wb") as devnull, log.open("wb") as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=devnull, stderr=stderr)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        sys.exit(f"{tap} failed (exit {process.returncode}); see {log}")
    counts = [int(value) for value in RECORD_COUNT.findall(log.read_text(errors="replace"))]
    return Measurement(tap, seconds, usage.ru_maxrss / 1024, sum(counts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=1, help="runs per tap; the fastest run is reported")
    args = parser.parse_args()

    data_dir = private_dir(WORK / f"hr-{args.rows}")
    source = data_dir / "employees.csv"
    if not source.exists():
        print(f"Writing {args.rows:,} rows to {source} ...", file=sys.stderr)
        write_hr_csv(source, args.rows)
    peer = ensure_peer_installed()

    ours_config = WORK / "tap-hrsource.json"
    ours_config.write_text(json.dumps({"streams": [{
        "name": "employees", "path": str(source), "key_properties": ["PersonId", "EffectiveDate"],
    }]}))  # fmt: skip
    peer_config = WORK / "tap-csv-folder.json"
    peer_config.write_text(
        json.dumps({"path": str(data_dir), "read_mode": "merge", "stream_name": "employees"})
    )

    ours = [str(Path(sys.executable).parent / "tap-hrsource"), "--config", str(ours_config)]
    theirs = [str(peer), "--config", str(peer_config)]
    results: dict[str, Measurement] = {}
    for _ in range(args.repeat):
        for name, command in (("tap-hrsource", ours), ("tap-csv-folder", theirs)):
            result = measure(name, command, WORK / f"{name}.log")
            if name not in results or result.seconds < results[name].seconds:
                results[name] = result

    print(
        f"{args.rows:,}-row HR CSV -> Singer messages on stdout (/dev/null), Python {sys.version.split()[0]}"
    )
    print(f"{'tap':<16}{'records':>10}{'seconds':>10}{'rows/s':>10}{'peak RSS MB':>13}")
    for result in results.values():
        print(
            f"{result.tap:<16}{result.records:>10,}{result.seconds:>10.1f}"
            f"{result.rows_per_second:>10,.0f}{result.peak_rss_mb:>13.0f}"
        )
    ours_result, peer_result = results["tap-hrsource"], results["tap-csv-folder"]
    speed = ours_result.rows_per_second / peer_result.rows_per_second
    memory = ours_result.peak_rss_mb / peer_result.peak_rss_mb
    print(f"throughput ratio (tap-hrsource / tap-csv-folder): {speed:.1f}x")
    print(f"peak RSS ratio (tap-hrsource / tap-csv-folder): {memory:.2f}")


if __name__ == "__main__":
    main()
