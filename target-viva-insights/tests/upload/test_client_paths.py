"""The status and error paths: every documented form is tried in turn and the one that answered is kept.

Microsoft's page "Import organizational data (first import)" writes the connector `HR` in the upload path
and `Hr` in the status and error paths, and its error path with a double slash; older versions give the
status path without `fileIngestion`. The requests are watched on the client's own session (a response hook),
against the emulator process.
"""

from __future__ import annotations

import requests
from target_viva_insights.settings import settings_with_defaults
from target_viva_insights.upload.client import IngressApi


def _watched(api: IngressApi) -> list[tuple[str, int]]:
    """(path, status) of every GET the client sends from now on."""
    seen: list[tuple[str, int]] = []

    def note(response: requests.Response, *args: object, **kwargs: object) -> None:
        seen.append((response.request.path_url, response.status_code))

    api._sessions.reads.hooks["response"].append(note)
    return seen


def _shape(path: str, tenant_id: str, ingestion_id: str) -> str:
    return path.split("/v1.0", 1)[1].replace(tenant_id, "T").replace(ingestion_id, "ID")


def test_a_service_answering_only_the_upper_case_form_is_found_and_remembered(
    emulator, packages, output_dir, test_logger
):
    with IngressApi(settings_with_defaults(emulator.config()), test_logger) as api:
        ingestion = api.upload(packages["good"])
        ingestion_id = str(ingestion["Id"])
        # The `Hr` form of the status path is refused once; the `HR` form answers.
        emulator.set_faults(rules=[{"action": "error", "endpoint": "status", "status": 404, "count": 1}])
        seen = _watched(api)

        api.ingestion(ingestion_id)
        api.ingestion(ingestion_id)

    shapes = [(_shape(path, emulator.tenant_id, ingestion_id), status) for path, status in seen]
    assert shapes == [
        ("/scopes/T/ingress/connectors/Hr/ingestions/fileIngestion/ID", 404),
        ("/scopes/T/ingress/connectors/HR/ingestions/fileIngestion/ID", 200),
        # Remembered: the form that answered, although `Hr` would answer again now.
        ("/scopes/T/ingress/connectors/HR/ingestions/fileIngestion/ID", 200),
    ]


def test_the_older_status_form_is_tried_when_no_file_ingestion_form_answers(emulator, packages, test_logger):
    with IngressApi(settings_with_defaults(emulator.config()), test_logger) as api:
        ingestion_id = str(api.upload(packages["good"])["Id"])
        emulator.set_faults(rules=[{"action": "error", "endpoint": "status", "status": 404, "count": 2}])
        seen = _watched(api)

        api.ingestion(ingestion_id)

    shapes = [(_shape(path, emulator.tenant_id, ingestion_id), status) for path, status in seen]
    assert shapes == [
        ("/scopes/T/ingress/connectors/Hr/ingestions/fileIngestion/ID", 404),
        ("/scopes/T/ingress/connectors/HR/ingestions/fileIngestion/ID", 404),
        ("/scopes/T/ingress/connectors/Hr/ingestions/ID", 200),
    ]


def test_error_paths_are_tried_as_documented_then_in_their_likely_forms(
    emulator, packages, output_dir, test_logger
):
    emulator.set_faults(rules=[{"action": "error", "endpoint": "errors", "status": 404, "count": 2}])
    with IngressApi(settings_with_defaults(emulator.config(await_status="none")), test_logger) as api:
        ingestion_id = str(api.upload(packages["bad"])["Id"])
        seen = _watched(api)

        first = api.download_errors(ingestion_id, output_dir)
        second = api.download_errors(ingestion_id, output_dir, output_dir / "again.csv")

    shapes = [(_shape(path, emulator.tenant_id, ingestion_id), status) for path, status in seen]
    assert shapes == [
        # As the page writes it: a double slash and no ingress/connectors (the emulator has no such route).
        ("/scopes/T//Hr/ingestions/ID/errors", 404),
        ("/scopes/T/ingress/connectors/Hr/ingestions/ID/errors", 404),
        ("/scopes/T/ingress/connectors/HR/ingestions/ID/errors", 404),
        ("/scopes/T/ingress/connectors/Hr/ingestions/fileIngestion/ID/errors", 200),
        ("/scopes/T/ingress/connectors/Hr/ingestions/fileIngestion/ID/errors", 200),
    ]
    assert first.read_bytes() == second.read_bytes()
