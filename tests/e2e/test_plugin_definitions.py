"""The plugin definitions under plugins/ work as a new user would use them, through the real `meltano`.

A fresh project adds both plugins with `meltano add --from-ref` (the definitions as published, only
`pip_url` pointing at this repository's folders), configures them with `meltano config set` and
`TARGET_VIVA_INSIGHTS_*` variables, checks the connection with `meltano invoke
target-viva-insights:ping`, runs the pipeline to `Completed` on the emulator, and uses the `status`
and `validate` commands on what the run produced.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from target_viva_insights.emulator.process import EmulatorHandle

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample-data" / "hr" / "employees.csv"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, emulator: EmulatorHandle, meltano_tools):
    folder = tmp_path_factory.mktemp("from-ref")
    env = meltano_tools.environment(emulator, folder / "out")
    secret = env.pop("TARGET_VIVA_INSIGHTS_CLIENT_SECRET")  # set with `meltano config set` below
    project = meltano_tools.project(folder / "project", env)
    project.add_from_ref(
        "extractor",
        meltano_tools.definition(
            "plugins/extractors/tap-hrsource.yml", pip_url=f"{ROOT / 'tap-hrsource'}[postgres]"
        ),
    )
    project.add_from_ref(
        "loader",
        meltano_tools.definition(
            "plugins/loaders/target-viva-insights.yml", pip_url=str(ROOT / "target-viva-insights")
        ),
    )
    project.config_set(
        "tap-hrsource",
        "streams",
        [{"name": "employees", "path": str(SAMPLE), "key_properties": ["PersonId", "EffectiveDate"]}],
    )
    project.config_set("target-viva-insights", "client_secret", secret)
    project.config_set("target-viva-insights", "exclude_columns", ["EmployeeNumber"])
    project.secret = secret
    return project


def test_from_ref_writes_the_whole_definition_into_meltano_yml(project) -> None:
    loader = project.plugin_entry("loaders", "target-viva-insights")
    names = {setting["name"] for setting in loader["settings"]}
    assert {"tenant_id", "client_secret", "column_mapping", "poll_interval_seconds"} <= names
    assert {"ping", "validate", "status", "ledger"} <= set(loader["commands"])
    assert loader["capabilities"]


def test_a_secret_set_with_meltano_config_goes_to_dotenv_not_meltano_yml(project) -> None:
    assert project.secret not in (project.folder / "meltano.yml").read_text(encoding="utf-8")
    assert "TARGET_VIVA_INSIGHTS_CLIENT_SECRET" in (project.folder / ".env").read_text(encoding="utf-8")
    listed = project.meltano("config", "list", "target-viva-insights").stdout
    assert project.secret not in listed
    # The TARGET_VIVA_INSIGHTS_* variables are settings Meltano knows (not "custom" extras).
    assert "tenant_id [env: TARGET_VIVA_INSIGHTS_TENANT_ID] current value:" in listed
    assert "from the TARGET_VIVA_INSIGHTS_TENANT_ID variable in the environment" in listed


def test_ping_then_run_to_completed_then_status_and_validate(project, emulator: EmulatorHandle) -> None:
    emulator.reset(ingestions=True)  # a tenant without history: each scenario starts its own ledger
    ping = project.meltano("invoke", "target-viva-insights:ping")
    assert "connection: OK" in ping.stdout
    assert f"tenant_id: {emulator.tenant_id}" in ping.stdout

    before = len(emulator.state()["ingestions"])
    project.meltano("run", "tap-hrsource", "target-viva-insights")
    (ingestion,) = emulator.state()["ingestions"][before:]
    assert ingestion["Status"] == "Completed"
    state = project.state("dev:tap-hrsource-to-target-viva-insights")
    assert state["singer_state"]["bookmarks"]["employees"]

    status = project.meltano("invoke", "target-viva-insights:status", ingestion["Id"])
    assert json.loads(status.stdout)["Status"] == "Completed"

    (package,) = Path(project.env["TARGET_VIVA_INSIGHTS_OUTPUT_DIR"]).glob("viva-insights-*.zip")
    validate = project.meltano("invoke", "target-viva-insights:validate", str(package))
    assert validate.stdout.strip() == f"{package}: valid"
