"""The lock under locks/ is what the README's commands install, and it agrees with the ranges it came from.

`python3 run.py lock` writes locks/dev.txt (every package of the development environment, with hashes),
locks/constraints.txt (the same pins for the pip runs Meltano makes) and one lock per third-party tap. These
tests need no network: they read the files and the running interpreter's installed distributions.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the oldest supported Python
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def load_run_py() -> ModuleType:
    spec = importlib.util.spec_from_file_location("run_py", ROOT / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RUN = load_run_py()


def pins(lock: Path) -> dict[str, list[tuple[Version, Requirement]]]:
    """Every `name==version ; marker` line of a lock, by canonical name (a universal lock may fork)."""
    found: dict[str, list[tuple[Version, Requirement]]] = {}
    for line in lock.read_text(encoding="utf-8").splitlines():
        pin = line.rstrip(" \\")
        if not pin or pin.startswith((" ", "#", "-")):
            continue
        requirement = Requirement(pin)
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", f"{lock.name}: {pin} is not an exact pin"
        found.setdefault(canonicalize_name(requirement.name), []).append(
            (Version(specifier.version), requirement)
        )
    return found


def pin_for_this_python(lock: Path, name: str) -> Version | None:
    for version, requirement in pins(lock).get(canonicalize_name(name), []):
        if requirement.marker is None or requirement.marker.evaluate():
            return version
    return None


def declared_requirements() -> list[tuple[str, Requirement]]:
    """What the plugins' pyproject.toml files and requirements-dev.txt ask for, with where each is."""
    declared: list[tuple[str, Requirement]] = []
    for plugin in RUN.PLUGINS:
        project = tomllib.loads((plugin / "pyproject.toml").read_text(encoding="utf-8"))
        where = f"{plugin.name}/pyproject.toml"
        texts = list(project["project"]["dependencies"])
        for extra in project["project"].get("optional-dependencies", {}).values():
            texts.extend(extra)
        for group in project.get("dependency-groups", {}).values():
            texts.extend(item for item in group if isinstance(item, str))
        declared.extend((where, Requirement(text)) for text in texts)
    for line in RUN.DEV_REQUIREMENTS.read_text(encoding="utf-8").splitlines():
        text = line.split("#", 1)[0].strip()
        if text:
            declared.append(("requirements-dev.txt", Requirement(text)))
    return declared


def test_every_lock_line_is_an_exact_pin_with_hashes() -> None:
    for lock in [RUN.DEV_LOCK, *sorted(RUN.TAP_LOCKS.glob("*.txt"))]:
        text = lock.read_text(encoding="utf-8")
        assert pins(lock), f"{lock.name} pins nothing"
        blocks = [block for block in text.split("\n") if block and not block.startswith((" ", "#"))]
        hashed = text.count("--hash=sha256:")
        assert hashed >= len(blocks), f"{lock.name}: {len(blocks)} pins but only {hashed} hashes"


@pytest.mark.parametrize("where_requirement", declared_requirements(), ids=lambda item: item[1].name)
def test_the_lock_pins_each_declared_requirement_within_its_range(
    where_requirement: tuple[str, Requirement],
) -> None:
    where, requirement = where_requirement
    if requirement.marker is not None and not requirement.marker.evaluate():
        pytest.skip(f"{requirement} does not apply to this Python")
    version = pin_for_this_python(RUN.DEV_LOCK, requirement.name)
    assert version is not None, (
        f"{where} asks for {requirement}, which locks/dev.txt lacks: run `{RUN.LOCK_COMMAND}`"
    )
    assert requirement.specifier.contains(version, prereleases=True), (
        f"{where} asks for {requirement}, locks/dev.txt pins {version}: run `{RUN.LOCK_COMMAND}`"
    )


def test_the_constraints_are_the_lock_without_hashes() -> None:
    expected = RUN.constraints_of(RUN.DEV_LOCK.read_text(encoding="utf-8"))
    assert RUN.CONSTRAINTS.read_text(encoding="utf-8") == expected, f"run `{RUN.LOCK_COMMAND}`"


def test_each_third_party_tap_lock_comes_from_its_input() -> None:
    for source in sorted(RUN.TAP_LOCKS.glob("*.in")):
        (wanted,) = [Requirement(line) for line in source.read_text(encoding="utf-8").split() if line]
        version = pin_for_this_python(source.with_suffix(".txt"), wanted.name)
        assert version is not None and wanted.specifier.contains(version), (
            f"{source.name}: run `{RUN.LOCK_COMMAND}`"
        )


def test_the_running_environment_is_the_lock() -> None:
    if os.environ.get("PIP_CONSTRAINT") != str(RUN.CONSTRAINTS):
        pytest.skip(
            "not run from the locked .venv (`python3 run.py test-newest` tests the ranges' newest releases)"
        )
    locked = pins(RUN.DEV_LOCK)
    differing = []
    for distribution in importlib.metadata.distributions():
        name = canonicalize_name(distribution.metadata["Name"])
        if name in {"target-viva-insights", "tap-hrsource"}:
            continue
        version = pin_for_this_python(RUN.DEV_LOCK, name)
        if version is None:
            differing.append(f"{name} {distribution.version} (not in the lock)")
        elif Version(distribution.version) != version:
            differing.append(f"{name} {distribution.version} (the lock pins {version})")
    assert locked and not differing, differing
