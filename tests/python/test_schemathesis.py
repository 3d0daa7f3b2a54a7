"""Schemathesis against the real binary: every operation of the served `/openapi.json`, fed
generated valid and invalid requests (bodies, query strings, headers, path ids), must never answer
with a server error. Bounded per operation so the whole run takes well under three minutes on two
cores; a fixed seed keeps CI reproducible (set SCHEMATHESIS_SEED to explore other inputs). With
DATABASE_URL set to PostgreSQL (tests/run-all.sh does), the run repeats on a server using it: the
store's SQL differs by backend, and PostgreSQL refuses things SQLite accepts.

The same run by hand, against a server started as in the README:
    python3 -m schemathesis.cli run http://127.0.0.1:8642/openapi.json \\
        -H "Authorization: Bearer $API_SERVER_KEY" --checks not_a_server_error --max-examples 30
"""

import os
import subprocess
import sys

import pytest
import requests

from conftest import API_KEY, start_server, stop_server

MAX_EXAMPLES = os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "60")
SEED = os.environ.get("SCHEMATHESIS_SEED", "20261129")


def test_openapi_document_is_open_and_lists_every_route(agent_server):
    response = requests.get(f"{agent_server.base}/openapi.json", timeout=5)
    assert response.status_code == 200
    doc = response.json()
    assert doc["openapi"].startswith("3.1")
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    for path in ["/v1/chat/completions", "/v1/responses", "/api/sessions/{id}", "/v1/runs/{id}/events", "/api/jobs"]:
        assert path in doc["paths"], path


@pytest.fixture(scope="module")
def postgres_agent_server(fake_upstream):
    """The real binary on the PostgreSQL of DATABASE_URL, agent pointed at the fake upstream."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        pytest.skip("DATABASE_URL is not a PostgreSQL URL")
    config = f"model:\n  provider: custom\n  base_url: {fake_upstream}\n  default: fake-model\n"
    srv = start_server(env_extra={"DATABASE_URL": url}, config_yaml=config)
    yield srv
    stop_server(srv)


def run_schemathesis(server, tmp_path):
    command = [
        sys.executable, "-m", "schemathesis.cli", "run", f"{server.base}/openapi.json",
        "--header", f"Authorization: Bearer {API_KEY}",
        "--checks", "not_a_server_error",
        "--max-examples", MAX_EXAMPLES,
        "--seed", SEED,
        "--workers", "1",
        "--request-timeout", "30",
        "--generation-database", "none",
        "--no-color",
    ]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-20000:]
    assert "passed" in output, output[-5000:]


def test_no_generated_request_gets_a_server_error(agent_server, tmp_path):
    run_schemathesis(agent_server, tmp_path)


def test_no_generated_request_gets_a_server_error_on_postgres(postgres_agent_server, tmp_path):
    run_schemathesis(postgres_agent_server, tmp_path)
