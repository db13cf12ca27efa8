"""Fixtures for end-to-end runs in Meltano projects of their own (a temporary folder each).

A test builds a project as a user would: `meltano add --from-ref` with a plugin definition, then
`meltano config set` / environment variables, then `meltano run`. Meltano installs the plugins itself
into the project's `.meltano` folder (from PyPI, or from this repository for our two plugins).
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from target_viva_insights.emulator.process import EmulatorHandle, running_emulator

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


class MeltanoProject:
    """A Meltano project in a folder of its own, run through the real `meltano` CLI."""

    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        self.folder = folder
        self.env = env
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "meltano.yml").write_text(
            "version: 1\ndefault_environment: dev\nenvironments:\n- name: dev\n"
            f"project_id: {uuid.uuid4()}\nsend_anonymous_usage_stats: false\nplugins: {{}}\n",
            encoding="utf-8",
        )

    def meltano(self, *args: str, check: bool = True, timeout: int = 900) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [str(BIN / "meltano"), *args],
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check:
            assert result.returncode == 0, f"meltano {' '.join(args)}:\n{result.stderr[-4000:]}"
        return result

    def add_from_ref(self, plugin_type: str, definition: dict[str, Any]) -> None:
        """`meltano add --from-ref FILE`, the definition written to a file first (as if downloaded)."""
        reference = self.folder / f"{definition['name']}.definition.yml"
        reference.write_text(yaml.safe_dump(definition, sort_keys=False), encoding="utf-8")
        self.meltano("add", "--plugin-type", plugin_type, definition["name"], "--from-ref", str(reference))

    def config_set(self, plugin: str, setting: str, value: Any) -> None:
        text = value if isinstance(value, str) else json.dumps(value)
        self.meltano("config", "set", plugin, setting, text)

    def state(self, state_id: str) -> dict[str, Any]:
        result = self.meltano("state", "get", state_id, check=False)
        lines = result.stdout.strip().splitlines()
        return json.loads(lines[-1]) if result.returncode == 0 and lines else {}

    def plugin_entry(self, plugin_type: str, name: str) -> dict[str, Any]:
        project = yaml.safe_load((self.folder / "meltano.yml").read_text(encoding="utf-8"))
        (entry,) = [plugin for plugin in project["plugins"][plugin_type] if plugin["name"] == name]
        return entry


def load_definition(relative: str, **overrides: Any) -> dict[str, Any]:
    """A plugin definition of this repository (e.g. `plugins/loaders/...yml`), with `overrides`."""
    definition = yaml.safe_load((ROOT / relative).read_text(encoding="utf-8"))
    definition.update(overrides)
    return definition


@pytest.fixture(scope="module")
def repository_project() -> Iterator[Path]:
    """This repository's own Meltano project, one test module at a time.

    Modules that run `meltano` in the repository share its `.meltano/` folder (plugin venvs, the tap's
    generated catalog), so two of them on two xdist workers would overwrite each other's run files.
    """
    system_folder = ROOT / ".meltano"
    system_folder.mkdir(exist_ok=True)
    with (system_folder / "tests.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield ROOT
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.fixture(scope="module")
def meltano_tools() -> SimpleNamespace:
    """The helpers above, for test modules (conftest is not importable under --import-mode=importlib)."""
    return SimpleNamespace(
        root=ROOT,
        project=MeltanoProject,
        definition=load_definition,
        environment=emulator_environment,
    )


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorHandle]:
    with running_emulator(
        tmp_path_factory.mktemp("emulator"),
        tenant_id=str(uuid.uuid4()),
        client_id=str(uuid.uuid4()),
        client_secret=uuid.uuid4().hex,
        extra_args=["--step-seconds", "0.3"],
    ) as handle:
        yield handle


def emulator_environment(emulator: EmulatorHandle, output_dir: Path) -> dict[str, str]:
    """The process environment of a Meltano project whose target points at the emulator."""
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["MELTANO_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    env.pop("MELTANO_DATABASE_URI", None)
    env.pop("MELTANO_PROJECT_ROOT", None)
    for name, value in emulator.config(
        poll_interval_seconds=1, await_timeout_minutes=5, output_dir=str(output_dir)
    ).items():
        env[f"TARGET_VIVA_INSIGHTS_{name.upper()}"] = str(value)
    return env
