"""The seed guide's `requests` examples, unchanged, against the real binary."""

import requests

from conftest import API_KEY


def test_health_without_key(server):
    body = requests.get(f"{server.base}/health", timeout=5).json()
    assert body["status"] == "ok"
    assert body["platform"] == "hermes-agent"


def test_models_with_key(server):
    response = requests.get(
        f"{server.base}/v1/models", headers={"Authorization": f"Bearer {API_KEY}"}, timeout=5
    )
    assert response.status_code == 200
    assert response.json()["data"][0]["id"] == "hermes-agent"


def test_wrong_key_gets_the_openai_envelope(server):
    response = requests.get(
        f"{server.base}/v1/models", headers={"Authorization": "Bearer nope-nope-nope-nope"}, timeout=5
    )
    assert response.status_code == 401
    assert response.json() == {
        "error": {"message": "Invalid API key", "type": "invalid_request_error", "param": None, "code": "invalid_api_key"}
    }
