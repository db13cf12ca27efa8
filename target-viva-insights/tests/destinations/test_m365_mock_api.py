"""The target with `destination: m365` and only connection settings, against a stand-alone mock of
the documented MODIS API (Microsoft's sample microsoft/orgdata_apibasedimport), not the project's
emulator: Entra ID's discovery and token endpoints, the scale-unit lookup and the fileIngestion POST,
each request recorded. Anything else answers 404 and is recorded too, so an undocumented path shows."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from target_viva_insights.emulator.tls import server_context
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

TENANT = "0d6c1d2a-6c1e-4f3e-9b52-000000000001"
CLIENT = "5a1f6f3c-2f55-4b3b-8f0e-000000000002"
SECRET = "mock-secret"
TOKEN = "mock-access-token"
SCALE_UNIT = "OrgDataIngestionwus2-02"
INGESTION_PATH = f"/v1.0/tenants/{TENANT}/modis/connectors/HR/ingestions/fileIngestion"
TARGET_MAIN = "from target_viva_insights.target import TargetVivaInsights as T; T.cli()"


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class MockModis:
    base: str
    ca_bundle: Path
    seen: list[Seen] = field(default_factory=list)

    def config(self, **settings: Any) -> dict[str, Any]:
        return {
            "tenant_id": TENANT,
            "client_id": CLIENT,
            "client_secret": SECRET,
            "authority_host": self.base,
            "api_base_url": f"{self.base}/v1.0",
            "ca_bundle": str(self.ca_bundle),
            **settings,
        }

    def posts(self) -> list[Seen]:
        return [
            request for request in self.seen if request.method == "POST" and "/oauth2/" not in request.path
        ]


def _json(document: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(document), status=status, content_type="application/json")


def _app(mock: MockModis) -> Any:
    @Request.application  # type: ignore[misc]
    def app(request: Request) -> Response:
        mock.seen.append(Seen(request.method, request.path, dict(request.headers), request.get_data()))
        path = request.path
        if path == f"/{TENANT}/v2.0/.well-known/openid-configuration":
            return _json(
                {
                    "issuer": f"{mock.base}/{TENANT}/v2.0",
                    "authorization_endpoint": f"{mock.base}/{TENANT}/oauth2/v2.0/authorize",
                    "token_endpoint": f"{mock.base}/{TENANT}/oauth2/v2.0/token",
                }
            )
        if path == f"/{TENANT}/oauth2/v2.0/token" and request.method == "POST":
            form = request.form
            if form.get("client_id") != CLIENT or form.get("client_secret") != SECRET:
                return _json({"error": "invalid_client", "error_description": "AADSTS7000215"}, 401)
            return _json({"access_token": TOKEN, "token_type": "Bearer", "expires_in": 3600})
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return _json({"error": {"code": "Unauthorized"}}, 401)
        if path == f"/v1.0/tenants/{TENANT}/scopes/{TENANT}/scaleUnit" and request.method == "GET":
            return Response(SCALE_UNIT, content_type="text/plain")
        if path == INGESTION_PATH and request.method == "POST":
            ingestion = str(uuid.uuid4())
            return _json({"Id": ingestion, "ConnectorId": str(uuid.uuid4()), "Status": "NotStarted"})
        return _json({"error": {"code": "NotFound"}}, 404)

    return app


@pytest.fixture
def mock_modis(tmp_path: Path) -> Iterator[MockModis]:
    context, ca_file = server_context(tmp_path / "mock-tls")
    mock = MockModis("", ca_file)
    server = make_server("127.0.0.1", 0, _app(mock), ssl_context=context, threaded=True)
    mock.base = f"https://localhost:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield mock
    server.shutdown()
    thread.join(timeout=10)


SCHEMA = {
    "type": "object",
    "properties": {
        "PersonId": {"type": "string"},
        "ManagerId": {"type": ["string", "null"]},
        "Organization": {"type": "string"},
        "HireDate": {"type": "string", "format": "date"},
        "EffectiveDate": {"type": "string", "format": "date"},
    },
}


def _input() -> str:
    messages: list[dict[str, Any]] = [
        {"type": "SCHEMA", "stream": "employees", "schema": SCHEMA, "key_properties": []}
    ]
    people = [("lead@contoso.com", None, "Exec")]
    people += [(f"p{n}@contoso.com", "lead@contoso.com", "Sales") for n in range(1, 21)]
    for person, manager, organization in people:
        for effective, org in (("2024-01-01", "Old"), ("2025-06-01", organization)):
            record = {
                "PersonId": person,
                "ManagerId": manager,
                "Organization": org,
                "HireDate": "2019-03-04",
                "EffectiveDate": effective,
            }
            messages.append({"type": "RECORD", "stream": "employees", "record": record})
    return "".join(json.dumps(message) + "\n" for message in messages)


def _run(mock: MockModis, tmp_path: Path, **settings: Any) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "config.json"
    config.write_text(json.dumps(mock.config(**settings)))
    return subprocess.run(
        [sys.executable, "-c", TARGET_MAIN, "--config", str(config)],
        input=_input(),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_one_text_csv_post_with_the_token_and_scale_unit_and_the_same_bytes_kept(
    mock_modis: MockModis, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = _run(
        mock_modis, tmp_path, destination="m365", output_dir=str(out), ledger_path=str(tmp_path / "l")
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (post,) = mock_modis.posts()
    assert post.path == INGESTION_PATH
    assert post.headers["Content-Type"].startswith("text/csv")
    assert post.headers["Authorization"] == f"Bearer {TOKEN}"
    assert post.headers["X-Nova-Scaleunit"] == SCALE_UNIT
    rows = list(csv.reader(io.StringIO(post.body.decode("utf-8"))))
    assert rows[0] == [
        "Microsoft_PersonEmail",
        "Microsoft_ManagerEmail",
        "Microsoft_Organization",
        "Microsoft_HireDate",
    ]
    assert len(rows) == 22 and len({row[0] for row in rows[1:]}) == 21
    assert {row[2] for row in rows[1:]} == {"Exec", "Sales"}  # the latest row of each person
    assert {row[3] for row in rows[1:]} == {"03/04/2019"}
    (kept,) = [p for p in out.glob("m365-*.csv") if not p.name.endswith(("-header.csv", "-validation.csv"))]
    assert kept.read_bytes() == post.body
    requested = {(request.method, request.path) for request in mock_modis.seen}
    assert requested <= {
        ("GET", f"/{TENANT}/v2.0/.well-known/openid-configuration"),
        ("POST", f"/{TENANT}/oauth2/v2.0/token"),
        ("GET", f"/v1.0/tenants/{TENANT}/scopes/{TENANT}/scaleUnit"),
        ("POST", INGESTION_PATH),
    }
    assert "Migration and imports" in result.stderr


def test_a_wrong_secret_posts_nothing(mock_modis: MockModis, tmp_path: Path) -> None:
    result = _run(
        mock_modis, tmp_path, destination="m365", client_secret="wrong", ledger_path=str(tmp_path / "l")
    )
    assert result.returncode == 4, result.stderr[-3000:]
    assert mock_modis.posts() == []
