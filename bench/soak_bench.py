#!/usr/bin/env python3
"""Soak run: 2,000,000 HR records through the real target to `Completed` in the emulator; peak RSS and
memory over the run.

    .venv/bin/python bench/soak_bench.py [--records 2000000] [--samples-every 0.5]

Generates (or reuses) the stream with `bench/generate_hr_stream.py`, starts the emulator as a real
process, and runs `.venv/bin/target-viva-insights` on the stream with the target's default settings:
only the connection to the emulator (tenant, client, secret, authority, API URL, CA bundle) and an
output_dir are set, so the run uploads and follows the ingestion until it is Completed (default
await_status, poll interval and timeouts). While the target runs, its resident set size (VmRSS) and
how far it has read its input (the offset of its stdin) are sampled. The report gives the RSS when 25,
50, 75 and 99 % of the input was read, the RSS while packaging, uploading and awaiting, the peak
(`ru_maxrss` from `os.wait4`) and the ingestion's final status as the emulator holds it. Memory is flat
when the RSS at 99 % of the input is close to the RSS at 25 %: nothing grows with the number of records.
Then the same stream goes again: the delivery ledger finds nothing new, so the target uploads nothing
(the figures of that run are the ledger comparison's cost inside the real target). Not a test:
nothing here asserts a figure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WORK = BENCH / ".work"
TARGET = ROOT / ".venv" / "bin" / "target-viva-insights"
TENANT_ID = "6f1c2a7e-0000-4000-8000-00000000d001"
CLIENT_ID = "0b4d9c3e-0000-4000-8000-00000000d002"
CLIENT_SECRET = "soak-secret"  # noqa: S105 - the local emulator's throwaway secret
CONNECTION_SETTINGS = (
    "tenant_id",
    "client_id",
    "client_secret",
    "authority_host",
    "api_base_url",
    "ca_bundle",
)
PROGRESS_MARKS = (25, 50, 75, 99)

sys.path.insert(0, str(BENCH))
from target_bench import ensure_input  # noqa: E402 - the shared, cached input of the benches


@dataclass
class Samples:
    """(fraction of the input read, RSS in MB) pairs taken while the target runs."""

    points: list[tuple[float, float]] = field(default_factory=list)

    def rss_at(self, percent: int) -> float | None:
        """The highest RSS seen up to the moment `percent` % of the input had been read."""
        seen = [rss for done, rss in self.points if done * 100 <= percent]
        return max(seen) if seen else None

    def after_input(self) -> float | None:
        """The highest RSS once the whole input was read: packaging, upload and awaiting the ingestion."""
        seen = [rss for done, rss in self.points if done >= 1]
        return max(seen) if seen else None


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def input_offset(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/fdinfo/0").read_text().splitlines():
            if line.startswith("pos:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def sample(pid: int, input_size: int, every: float, samples: Samples, stop: threading.Event) -> None:
    while not stop.wait(every):
        rss, offset = rss_mb(pid), input_offset(pid)
        if rss is None:
            return
        done = input_size if offset is None else offset  # stdin closed: all of it was read
        samples.points.append((done / input_size, rss))


def run_target(config: dict, stream: Path, log: Path, every: float) -> tuple[int, float, float, Samples]:
    """The target as a child; its exit code, seconds, peak RSS (MB) and the samples."""
    with tempfile.TemporaryDirectory(dir=WORK) as folder:
        config_file = Path(folder) / "config.json"
        config_file.write_text(json.dumps(config))
        config_file.chmod(0o600)
        samples, stop = Samples(), threading.Event()
        with stream.open("rb") as stdin, log.open("wb") as stderr:
            started = time.perf_counter()
            process = subprocess.Popen(
                [str(TARGET), "--config", str(config_file)],
                stdin=stdin,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
            sampler = threading.Thread(
                target=sample, args=(process.pid, stream.stat().st_size, every, samples, stop), daemon=True
            )
            sampler.start()
            _, status, usage = os.wait4(process.pid, 0)
            seconds = time.perf_counter() - started
            stop.set()
            sampler.join()
        process.returncode = os.waitstatus_to_exitcode(status)
    return process.returncode, seconds, usage.ru_maxrss / 1024, samples


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=2_000_000)
    parser.add_argument("--samples-every", type=float, default=0.5, help="seconds between RSS samples")
    arguments = parser.parse_args(argv)

    from target_viva_insights.emulator.process import running_emulator

    WORK.mkdir(parents=True, exist_ok=True)
    stream = ensure_input(arguments.records)
    output_dir = WORK / "soak-output"
    shutil.rmtree(output_dir, ignore_errors=True)
    log = WORK / "logs" / f"soak-{arguments.records}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(dir=WORK) as emulator_dir,
        running_emulator(
            Path(emulator_dir), tenant_id=TENANT_ID, client_id=CLIENT_ID, client_secret=CLIENT_SECRET
        ) as emulator,
    ):
        every_setting = emulator.config()
        config = {name: every_setting[name] for name in CONNECTION_SETTINGS}
        config["output_dir"] = str(output_dir)
        config["ledger_path"] = str(Path(emulator_dir) / "ledger")  # fresh: the first run is a full import
        print(f"{arguments.records:,} records ({stream.stat().st_size / 1e6:.0f} MB) -> emulator ...")
        exit_code, seconds, peak, samples = run_target(config, stream, log, arguments.samples_every)
        ingestions = emulator.state().get("ingestions", [])
        rerun = None
        if exit_code == 0:
            # The same stream again: the ledger comparison finds nothing new, so nothing is uploaded.
            rerun = run_target(config, stream, log.with_suffix(".rerun.log"), arguments.samples_every)
            rerun_ingestions = len(emulator.state().get("ingestions", []))
    statuses = [str(item.get("Status") or item.get("status")) for item in ingestions]
    print(
        f"exit code: {exit_code}   wall time: {seconds:.0f} s   records/s: {arguments.records / seconds:,.0f}"
    )
    print(f"ingestions in the emulator: {len(ingestions)}, statuses: {', '.join(statuses) or 'none'}")
    print(f"peak RSS (ru_maxrss): {peak:.0f} MB")
    print("RSS while reading, by input read: " + "   ".join(_mark(samples, mark) for mark in PROGRESS_MARKS))
    after = samples.after_input()
    print(f"RSS after the input (package, upload, await): {'n/a' if after is None else f'{after:.0f} MB'}")
    print(f"log: {log}")
    if rerun is not None:
        print(
            f"rerun of the same stream: exit code {rerun[0]}, wall time {rerun[1]:.0f} s, peak RSS "
            f"{rerun[2]:.0f} MB, ingestions in the emulator afterwards: {rerun_ingestions} (nothing changed: "
            f"{'yes' if 'Nothing changed since' in log.with_suffix('.rerun.log').read_text() else 'no'})"
        )
    if exit_code != 0:
        print(log.read_text(errors="replace")[-3000:], file=sys.stderr)
    rerun_ok = rerun is not None and rerun[0] == 0 and rerun_ingestions == 1
    return 0 if exit_code == 0 and statuses == ["Completed"] and rerun_ok else 1


def _mark(samples: Samples, percent: int) -> str:
    rss = samples.rss_at(percent)
    return f"{percent}%: {'n/a' if rss is None else f'{rss:.0f} MB'}"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
