"""Meltano knows each plugin's settings exactly as the plugin declares them (`--about`).

Both the Hub-format definitions under `plugins/` and the root meltano.yml list every setting with the
kind, label, secrecy, default and options that `--about` gives, so `TARGET_VIVA_INSIGHTS_*` variables
are read, `meltano config set` knows every name and stores secrets in `.env`, never in meltano.yml.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

# JSON Schema type -> Meltano setting kind. `number` is `integer` on purpose: Meltano 4.4 cannot write
# a `decimal` setting into the plugin's config file (Decimal is not JSON serializable), so whole numbers
# are what Meltano passes; the plugins themselves accept fractions in a --config file.
KIND_OF_TYPE = {
    "string": "string",
    "boolean": "boolean",
    "integer": "integer",
    "number": "integer",
    "object": "object",
    "array": "array",
}
PLUGINS = [
    ("target-viva-insights", "loaders", ROOT / "plugins" / "loaders" / "target-viva-insights.yml"),
    ("tap-hrsource", "extractors", ROOT / "plugins" / "extractors" / "tap-hrsource.yml"),
]


@functools.cache
def about(executable: str) -> dict[str, Any]:
    result = subprocess.run(
        [str(BIN / executable), "--about", "--format=json"], capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout)


def expected_setting(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    """What Meltano must know of one top-level setting of `--about`."""
    declared = spec.get("type", [])
    types = [declared] if isinstance(declared, str) else [kind for kind in declared if kind != "null"]
    expected: dict[str, Any] = {
        "name": name,
        "kind": "options" if "enum" in spec else KIND_OF_TYPE[types[0]],
        "sensitive": bool(spec.get("secret")),
        "value": spec.get("default"),
    }
    if "enum" in spec:
        expected["options"] = list(spec["enum"])
    return expected


def as_declared(setting: dict[str, Any]) -> dict[str, Any]:
    """The same facts of one setting of a Meltano plugin definition."""
    declared: dict[str, Any] = {
        "name": setting["name"],
        "kind": setting.get("kind", "string"),
        "sensitive": bool(setting.get("sensitive")),
        "value": setting.get("value"),
    }
    if "options" in setting:
        declared["options"] = [option["value"] for option in setting["options"]]
    return declared


def meltano_yml_plugin(plugin_type: str, name: str) -> dict[str, Any]:
    project = yaml.safe_load((ROOT / "meltano.yml").read_text(encoding="utf-8"))
    (plugin,) = [entry for entry in project["plugins"][plugin_type] if entry["name"] == name]
    return plugin


def definition(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize(("executable", "plugin_type", "hub_file"), PLUGINS)
@pytest.mark.parametrize("where", ["plugins/ definition", "meltano.yml"])
def test_meltano_knows_every_setting_as_the_plugin_declares_it(
    executable: str, plugin_type: str, hub_file: Path, where: str
) -> None:
    declared_by_plugin = about(executable)["settings"]["properties"]
    expected = [expected_setting(name, spec) for name, spec in declared_by_plugin.items()]
    plugin = (
        definition(hub_file)
        if where == "plugins/ definition"
        else meltano_yml_plugin(plugin_type, executable)
    )
    declared = [as_declared(setting) for setting in plugin["settings"]]

    missing = sorted({s["name"] for s in expected} - {s["name"] for s in declared})
    unknown = sorted({s["name"] for s in declared} - {s["name"] for s in expected})
    assert (missing, unknown) == ([], []), (
        f"{where} of {executable}: settings missing {missing}, unknown to the plugin {unknown}. "
        "Add a setting to settings.py, the root meltano.yml and plugins/ together."
    )
    by_name = {setting["name"]: setting for setting in declared}
    assert [by_name[setting["name"]] for setting in expected] == expected


@pytest.mark.parametrize(("executable", "plugin_type", "hub_file"), PLUGINS)
@pytest.mark.parametrize("where", ["plugins/ definition", "meltano.yml"])
def test_every_setting_has_the_plugins_title_as_its_label(
    executable: str, plugin_type: str, hub_file: Path, where: str
) -> None:
    declared_by_plugin = about(executable)["settings"]["properties"]
    plugin = (
        definition(hub_file)
        if where == "plugins/ definition"
        else meltano_yml_plugin(plugin_type, executable)
    )
    for setting in plugin["settings"]:
        title = declared_by_plugin[setting["name"]].get("title")
        assert setting.get("label"), f"{where}: {setting['name']} has no label"
        if title:
            assert setting["label"] == title, setting["name"]


@pytest.mark.parametrize(("executable", "plugin_type", "hub_file"), PLUGINS)
def test_definitions_declare_the_plugins_capabilities_and_descriptions(
    executable: str, plugin_type: str, hub_file: Path
) -> None:
    plugin_about = about(executable)
    hub = definition(hub_file)
    local = meltano_yml_plugin(plugin_type, executable)
    assert hub["capabilities"] == plugin_about["capabilities"]
    assert local["capabilities"] == plugin_about["capabilities"]
    assert (hub["name"], hub["namespace"], hub["executable"]) == (
        local["name"],
        local["namespace"],
        local["executable"],
    )
    descriptions = {
        name: spec.get("description") for name, spec in plugin_about["settings"]["properties"].items()
    }
    assert {setting["name"]: setting.get("description") for setting in hub["settings"]} == descriptions
    assert hub.get("commands", {}) == local.get("commands", {})


def test_every_target_setting_has_a_title() -> None:
    from target_viva_insights.settings import TARGET_SETTINGS

    untitled = [
        name for name, spec in TARGET_SETTINGS.to_dict()["properties"].items() if not spec.get("title")
    ]
    assert untitled == []


def test_the_loader_offers_the_viva_insights_commands() -> None:
    commands = definition(PLUGINS[0][2])["commands"]
    assert {"ping", "validate", "status", "errors", "ledger"} <= set(commands)
    assert {command["executable"] for command in commands.values()} == {"viva-insights"}


@pytest.mark.parametrize("name", sorted(definition(PLUGINS[0][2])["commands"]))
def test_each_command_is_a_subcommand_of_viva_insights(name: str) -> None:
    subcommand = definition(PLUGINS[0][2])["commands"][name]["args"].split()[0]
    result = subprocess.run(
        [str(BIN / "viva-insights"), subcommand, "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
