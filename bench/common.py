"""Shared by the bench scripts: run one child process and measure its wall time and peak RSS."""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Measurement:
    """Wall time, peak resident set size, exit code and CPU time (user + system) of one finished child.

    CPU time hardly moves when other processes share the machine; wall time does.
    """

    seconds: float
    peak_rss_mb: float
    exit_code: int
    cpu_seconds: float = 0.0


def run_measured(
    command: list[str], stdin_path: Path, log_path: Path, env: dict[str, str] | None = None
) -> Measurement:
    """Run `command` with stdin from `stdin_path`, stdout discarded, stderr into `log_path`.

    os.wait4 reaps exactly this child and returns its own rusage, so ru_maxrss (KiB on Linux) is the
    peak RSS (and ru_utime + ru_stime the CPU time) of this child (and of any grandchild it waited
    for), not a maximum over all children this process ever ran, which is what RUSAGE_CHILDREN would
    give.
    """
    with stdin_path.open("rb") as stdin, log_path.open("wb") as log:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdin=stdin, stdout=subprocess.DEVNULL, stderr=log, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
    # Tell Popen the child is gone so it does not try to reap it a second time.
    process.returncode = os.waitstatus_to_exitcode(status)
    return Measurement(
        seconds=seconds,
        peak_rss_mb=usage.ru_maxrss / 1024,
        exit_code=process.returncode,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
    )
