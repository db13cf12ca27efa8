#!/usr/bin/env python3
"""Set up the project and run it.

    python3 run.py demo               the pipeline on the sample HR data against the local emulator
    python3 run.py test [ARGS]        the whole test suite (pytest ARGS pass through)
    python3 run.py lock               refresh locks/ from the plugins' ranges and requirements-dev.txt
    python3 run.py test-newest [ARGS] the suite with the newest releases the ranges allow (not the lock)

Needs Python 3.10+ and git (the Azurite tests also Node.js 20+ and npm, the browser test Chromium).
`demo` and `test` create `.venv/` beside this file and install exactly what locks/dev.txt names
(versions and hashes), then both plugins editable on top, without resolving anything; a second call
reuses the venv until the lock or a pyproject.toml changes. Every pip that Meltano runs for them (the
demo's and the end-to-end tests' plugin installs) is held to the same versions through
PIP_CONSTRAINT=locks/constraints.txt. `test-newest` builds `.venv-newest/` from the ranges alone, so
that a release that breaks us is found by someone who asked for it, not by CI.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
LOCKS = ROOT / "locks"
DEV_LOCK = LOCKS / "dev.txt"
CONSTRAINTS = LOCKS / "constraints.txt"
TAP_LOCKS = LOCKS / "taps"
PLUGINS = [ROOT / "target-viva-insights", ROOT / "tap-hrsource"]
DEV_REQUIREMENTS = ROOT / "requirements-dev.txt"
# The oldest Python the plugins support: the lock is resolved for it and every newer one.
OLDEST_PYTHON = "3.10"
LOCK_COMMAND = "python3 run.py lock"


def bin_dir(environment: Path) -> Path:
    return environment / ("Scripts" if os.name == "nt" else "bin")


def python_of(environment: Path) -> Path:
    return bin_dir(environment) / ("python.exe" if os.name == "nt" else "python")


def pip(environment: Path, *args: str) -> None:
    command = [str(python_of(environment)), "-m", "pip", "install", "--disable-pip-version-check", "--quiet"]
    subprocess.run([*command, *args], check=True)


def install_fingerprint() -> str:
    digest = hashlib.sha256()
    for path in [DEV_LOCK, *(plugin / "pyproject.toml" for plugin in PLUGINS)]:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def fresh_environment(environment: Path) -> None:
    if environment.exists():
        shutil.rmtree(environment)
    print(f"Creating {environment} ...", flush=True)
    venv.EnvBuilder(with_pip=True).create(environment)
    # ensurepip of Python < 3.12 adds setuptools, which nothing here needs: the venv holds the lock alone.
    uninstall = [str(python_of(environment)), "-m", "pip", "uninstall", "--quiet", "--yes", "setuptools"]
    subprocess.run(uninstall, check=False, capture_output=True)


def ensure_environment() -> Path:
    """`.venv/` holding exactly the lock, rebuilt from scratch whenever the lock or a plugin changes."""
    if sys.version_info < (3, 10):  # noqa: UP036 - an older Python gets a clear message, not a traceback
        sys.exit("Python 3.10 or newer is required.")
    environment = ROOT / ".venv"
    stamp = environment / ".installed"
    fingerprint = install_fingerprint()
    if stamp.exists() and stamp.read_text() == fingerprint:
        return environment
    fresh_environment(environment)
    print(
        f"Installing {DEV_LOCK.relative_to(ROOT)} (both plugins, their test tools, Meltano) ...", flush=True
    )
    pip(environment, "--require-hashes", "--no-deps", "-r", str(DEV_LOCK))
    # The plugins themselves, editable; their build backend (hatchling) comes from the lock too.
    editable = [arg for plugin in PLUGINS for arg in ("-e", str(plugin))]
    pip(environment, "--no-deps", "--no-build-isolation", *editable)
    stamp.write_text(fingerprint)
    return environment


def run_environment(environment: Path, *, locked: bool) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{bin_dir(environment)}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(environment)
    if locked:
        env["PIP_CONSTRAINT"] = str(CONSTRAINTS)
    else:
        env.pop("PIP_CONSTRAINT", None)
    return env


def run_demo(environment: Path) -> int:
    command = [str(python_of(environment)), str(ROOT / "scripts" / "demo.py")]
    return subprocess.run(command, cwd=ROOT, env=run_environment(environment, locked=True)).returncode


def run_tests(environment: Path, extra: list[str], *, locked: bool = True) -> int:
    # Two workers (the CI machine has two cores); a test module runs on one worker, so the Meltano
    # tests, which share one plugin install, never run at the same time.
    parallel = ["-n", "2", "--dist", "loadfile"]
    command = [str(python_of(environment)), "-m", "pytest", *parallel, *extra]  # pytest.ini: the folders
    return subprocess.run(command, cwd=ROOT, env=run_environment(environment, locked=locked)).returncode


def uv_compile(uv: Path, inputs: list[str], output: Path) -> None:
    command = [
        str(uv), "pip", "compile", "--quiet", "--universal", "--python-version", OLDEST_PYTHON,
        "--generate-hashes", "--custom-compile-command", LOCK_COMMAND, "--output-file", str(output),
    ]  # fmt: skip
    subprocess.run([*command, *inputs], cwd=ROOT, check=True)


def constraints_of(lock_text: str) -> str:
    """The lock's pins without their hashes: pip refuses hashes for the local folders Meltano installs."""
    lines = ["# The pins of locks/dev.txt without hashes (written by `python3 run.py lock`)."]
    for line in lock_text.splitlines():
        pin = line.rstrip(" \\")
        if pin and not pin.startswith((" ", "#")):
            lines.append(pin)
    return "\n".join(lines) + "\n"


def refresh_locks(environment: Path) -> int:
    """Resolve the ranges again (newest releases they allow) into locks/, with hashes."""
    uv = bin_dir(environment) / "uv"
    target, tap = (str(plugin / "pyproject.toml") for plugin in PLUGINS)
    groups = ["--group", f"{target}:dev", "--group", f"{tap}:dev", "--all-extras"]
    uv_compile(uv, [*groups, target, tap, str(DEV_REQUIREMENTS)], DEV_LOCK)
    CONSTRAINTS.write_text(constraints_of(DEV_LOCK.read_text()))
    # Each third-party tap of the end-to-end tests gets its own lock: Meltano installs it in a venv of
    # its own, and each pins a singer-sdk of its own that cannot share ours.
    for requirement in sorted(TAP_LOCKS.glob("*.in")):
        uv_compile(uv, [str(requirement)], requirement.with_suffix(".txt"))
    print(f"Refreshed {LOCKS.relative_to(ROOT)}/; `git diff --stat locks` shows what moved.")
    return 0


def newest_environment(locked: Path) -> Path:
    """`.venv-newest/`: the plugins and test tools at the newest releases their ranges allow."""
    environment = ROOT / ".venv-newest"
    fresh_environment(environment)
    uv = bin_dir(locked) / "uv"
    target, tap = PLUGINS
    command = [
        str(uv), "pip", "install", "--python", str(python_of(environment)), "--upgrade",
        "-e", str(target), "-e", f"{tap}[postgres]",
        "--group", f"{target / 'pyproject.toml'}:dev", "--group", f"{tap / 'pyproject.toml'}:dev",
        "-r", str(DEV_REQUIREMENTS),
    ]  # fmt: skip
    subprocess.run(command, cwd=ROOT, check=True)
    return environment


def main() -> int:
    jobs = {"demo", "test", "lock", "test-newest"}
    if len(sys.argv) < 2 or sys.argv[1] not in jobs:
        print(__doc__)
        return 2
    job, extra = sys.argv[1], sys.argv[2:]
    environment = ensure_environment()
    if job == "demo":
        return run_demo(environment)
    if job == "lock":
        return refresh_locks(environment)
    if job == "test-newest":
        return run_tests(newest_environment(environment), extra, locked=False)
    return run_tests(environment, extra)


if __name__ == "__main__":
    sys.exit(main())
