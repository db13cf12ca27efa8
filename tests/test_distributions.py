"""Both plugins build into distributions PyPI would accept (`python -m build`, then `twine check`).

Built without isolation (`--no-isolation`): the build backend (hatchling) comes from the test
environment (requirements-dev.txt), so the test needs no network.
"""

from __future__ import annotations

import email
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REPOSITORY = "https://github.com/viva-insights-hr/viva-insights-singer"

pytestmark = pytest.mark.slow


def build(project: Path, out: Path) -> tuple[Path, Path]:
    """The sdist and the wheel of one plugin, built like a release would be (the wheel from the sdist)."""
    result = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(project)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return sdist, wheel


def wheel_metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [name for name in archive.namelist() if name.endswith(".dist-info/METADATA")]
        return email.message_from_bytes(archive.read(name))


@pytest.fixture(scope="module")
def target_distributions(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return build(ROOT / "target-viva-insights", tmp_path_factory.mktemp("target-dist"))


@pytest.fixture(scope="module")
def tap_distributions(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return build(ROOT / "tap-hrsource", tmp_path_factory.mktemp("tap-dist"))


def test_twine_accepts_both_plugins_distributions(target_distributions, tap_distributions) -> None:
    files = [str(path) for path in (*target_distributions, *tap_distributions)]
    result = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *files],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("PASSED") == 4, result.stdout


def test_the_target_wheel_carries_version_license_authors_and_links(target_distributions) -> None:
    from target_viva_insights import __version__

    _, wheel = target_distributions
    metadata = wheel_metadata(wheel)
    assert metadata["Name"] == "target-viva-insights"
    assert metadata["Version"] == __version__  # one place: target_viva_insights/__init__.py
    assert wheel.name.startswith(f"target_viva_insights-{__version__}-")
    assert metadata["License-Expression"] == "Apache-2.0"
    assert metadata["License-File"] == "LICENSE"
    assert metadata["Author"] or metadata["Author-email"]
    urls = dict(value.split(", ", 1) for value in metadata.get_all("Project-URL"))
    assert urls["Repository"] == REPOSITORY
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        licence = next(name for name in names if name.endswith("/licenses/LICENSE"))
        assert archive.read(licence) == (ROOT / "LICENSE").read_bytes()
        # The emulator ships with the target (the `viva-insights emulator` command).
        assert "target_viva_insights/emulator/process.py" in names


def test_the_target_readme_renders_on_pypi_without_the_repository(target_distributions) -> None:
    """PyPI shows the README alone: every link must be absolute (or an anchor in the page)."""
    _, wheel = target_distributions
    description = wheel_metadata(wheel).get_payload()
    assert isinstance(description, str)
    assert "Singer target" in description
    links = [part.split(")", 1)[0] for part in description.split("](")[1:]]
    relative = [link for link in links if not link.startswith(("https://", "#"))]
    assert links
    assert relative == []


def test_the_target_sdist_holds_the_sources_docs_and_license_only(target_distributions) -> None:
    sdist, _ = target_distributions
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert {
        "pyproject.toml",
        "README.md",
        "LICENSE",
        "docs/CLI.md",
        "target_viva_insights/target.py",
    } <= names
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]


@pytest.mark.parametrize("plugin", ["target-viva-insights", "tap-hrsource"])
def test_the_licence_copy_beside_each_plugin_is_the_repositorys(plugin: str) -> None:
    """Hatchling packs licence files from the project folder, so each plugin keeps a copy of the root one."""
    assert (ROOT / plugin / "LICENSE").read_bytes() == (ROOT / "LICENSE").read_bytes()
    assert "Apache License" in (ROOT / "LICENSE").read_text(encoding="utf-8").splitlines()[1]
