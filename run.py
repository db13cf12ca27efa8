#!/usr/bin/env python3
"""Set up the project and run it: `python3 run.py demo` (the main job) or `python3 run.py test`.

Needs only Python 3.10+ and git. Creates `.venv/` beside this file, installs both plugins (editable)
and the test tools from PyPI, then runs the chosen job inside it. A second call reuses the venv
unless a pyproject.toml or requirements-dev.txt changed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
INSTALL_INPUTS = [
    ROOT / "target-viva-insights" / "pyproject.toml",
    ROOT / "tap-hrsource" / "pyproject.toml",
    ROOT / "requirements-dev.txt",
]
STAMP = VENV / ".installed"


def install_fingerprint() -> str:
    digest = hashlib.sha256()
    for path in INSTALL_INPUTS:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def ensure_environment() -> None:
    """Create the venv and install everything once; again only when the install inputs change."""
    if sys.version_info < (3, 10):  # noqa: UP036 - an older Python gets a clear message, not a traceback
        sys.exit("Python 3.10 or newer is required.")
    fingerprint = install_fingerprint()
    if STAMP.exists() and STAMP.read_text() == fingerprint:
        return
    if not PYTHON.exists():
        print(f"Creating {VENV} ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("Installing target-viva-insights, tap-hrsource and the test tools ...", flush=True)
    pip = [str(PYTHON), "-m", "pip", "install", "--disable-pip-version-check", "--quiet"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run(
        [
            *pip,
            "-e",
            str(ROOT / "target-viva-insights"),
            "-e",
            f"{ROOT / 'tap-hrsource'}[postgres]",
            "--group",
            f"{ROOT / 'target-viva-insights' / 'pyproject.toml'}:dev",
            "--group",
            f"{ROOT / 'tap-hrsource' / 'pyproject.toml'}:dev",
            "-r",
            str(ROOT / "requirements-dev.txt"),
        ],
        check=True,
    )
    STAMP.write_text(fingerprint)


def venv_environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(VENV)
    return env


def run_demo() -> int:
    return subprocess.run([str(PYTHON), str(ROOT / "demo.py")], cwd=ROOT, env=venv_environment()).returncode


def run_tests(extra: list[str]) -> int:
    # Two workers (the CI machine has two cores); a test module runs on one worker, so the Meltano
    # tests, which share one plugin install, never run at the same time.
    parallel = ["-n", "2", "--dist", "loadfile"]
    command = [str(PYTHON), "-m", "pytest", *parallel, *extra]  # pytest.ini names the test folders
    return subprocess.run(command, cwd=ROOT, env=venv_environment()).returncode


def main() -> int:
    jobs = {"demo", "test"}
    if len(sys.argv) < 2 or sys.argv[1] not in jobs:
        print(__doc__)
        return 2
    ensure_environment()
    if sys.argv[1] == "demo":
        return run_demo()
    return run_tests(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
