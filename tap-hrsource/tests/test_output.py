"""Record output: the fast path and the SDK path (stream maps, selection) give the same records."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout

from singer_sdk.singerlib import Catalog
from tap_hrsource.tap import TapHRSource


def config_for(path: object, **extra: object) -> dict:
    return {"streams": [{"name": "people", "path": str(path), "key_properties": ["PersonId"]}], **extra}


def write_source(tmp_path) -> object:
    source = tmp_path / "export.csv"
    source.write_text(
        "PersonId,Layer,HireDate,HourlyRate\na@contoso.com,1,2020-01-31,25.5\nb@contoso.com,2,,\n"
    )
    return source


def test_stream_maps_still_apply(tmp_path, run_tap):
    source = write_source(tmp_path)
    plain = run_tap(config_for(source)).of("people")
    mapped = run_tap(config_for(source, stream_maps={"people": {"Layer": None, "Level": "Layer + 10"}})).of(
        "people"
    )
    assert [{k: v for k, v in r.items() if k != "Layer"} for r in plain] == [
        {k: v for k, v in r.items() if k != "Level"} for r in mapped
    ]
    assert [r["Level"] for r in mapped] == [11, 12]
    assert all("Layer" not in r for r in mapped)


def test_deselected_properties_are_left_out(tmp_path):
    source = write_source(tmp_path)
    catalog = TapHRSource(config=config_for(source)).catalog_dict
    for entry in catalog["streams"][0]["metadata"]:
        if entry["breadcrumb"] == ["properties", "HourlyRate"]:
            entry["metadata"]["selected"] = False
    tap = TapHRSource(config=config_for(source), catalog=Catalog.from_dict(catalog))
    stdout = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    with redirect_stdout(stdout):
        tap.sync_all()
        stdout.flush()
    stdout.seek(0)
    records = [m["record"] for m in map(json.loads, stdout.read().splitlines()) if m["type"] == "RECORD"]
    assert records == [
        {"PersonId": "a@contoso.com", "Layer": 1, "HireDate": "2020-01-31"},
        {"PersonId": "b@contoso.com", "Layer": 2, "HireDate": None},
    ]


def test_state_comes_after_the_records_it_covers(tmp_path):
    source = write_source(tmp_path)
    tap = TapHRSource(config=config_for(source))
    stdout = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    with redirect_stdout(stdout):
        tap.sync_all()
        stdout.flush()
    stdout.seek(0)
    kinds = [json.loads(line)["type"] for line in stdout.read().splitlines()]
    assert kinds[0] == "SCHEMA"
    assert kinds[-1] == "STATE"
    assert kinds.count("RECORD") == 2
    assert kinds.index("STATE") > max(i for i, kind in enumerate(kinds) if kind == "RECORD")
