"""The Responses API through the official `openai` Python SDK against the real binary: create
(plain and streamed), retrieve, chaining with previous_response_id, delete, the SDK's error class
for an unknown id, and Idempotency-Key replays."""

import openai
import pytest
import requests
from openai import OpenAI

from conftest import API_KEY, FAKE_DEFAULT_REPLY


def client_for(server) -> OpenAI:
    return OpenAI(base_url=f"{server.base}/v1", api_key=API_KEY, max_retries=0)


def test_create_and_retrieve(agent_server):
    client = client_for(agent_server)
    response = client.responses.create(
        model="hermes-agent",
        input="¿Qué servicios ofrece tu marca?",
        instructions="Responde en español.",
        metadata={"source": "sdk-test"},
    )
    assert response.id.startswith("resp_")
    assert response.status == "completed"
    assert response.output_text == FAKE_DEFAULT_REPLY
    assert response.output[-1].type == "message"
    assert response.output[-1].content[0].text == FAKE_DEFAULT_REPLY
    assert response.usage.total_tokens > 0
    assert response.metadata == {"source": "sdk-test"}

    stored = client.responses.retrieve(response.id)
    assert stored.id == response.id
    assert stored.status == "completed"
    assert stored.output_text == FAKE_DEFAULT_REPLY
    assert stored.instructions == "Responde en español."


def test_chaining_with_previous_response_id(agent_server):
    client = client_for(agent_server)
    first = client.responses.create(model="hermes-agent", input="Hola")
    second = client.responses.create(
        model="hermes-agent", input="¿Y ahora?", previous_response_id=first.id
    )
    assert second.previous_response_id == first.id
    assert second.output_text == FAKE_DEFAULT_REPLY
    # Only this turn's items are in the output.
    assert len(second.output) == 1


def test_stream(agent_server):
    client = client_for(agent_server)
    stream = client.responses.create(model="hermes-agent", input="Escribe un slogan.", stream=True)
    kinds = []
    text = ""
    final = None
    for event in stream:
        kinds.append(event.type)
        if event.type == "response.output_text.delta":
            text += event.delta
        if event.type == "response.completed":
            final = event.response
    assert kinds[0] == "response.created"
    assert kinds[1] == "response.in_progress"
    assert kinds[-1] == "response.completed"
    assert "response.output_text.done" in kinds
    assert text == FAKE_DEFAULT_REPLY
    assert final is not None and final.output_text == FAKE_DEFAULT_REPLY


def test_stream_helper_accumulates_the_final_response(agent_server):
    client = client_for(agent_server)
    with client.responses.stream(model="hermes-agent", input="Hola") as stream:
        for _ in stream:
            pass
        final = stream.get_final_response()
    assert final.status == "completed"
    assert final.output_text == FAKE_DEFAULT_REPLY


def test_delete_then_retrieve_is_not_found(agent_server):
    client = client_for(agent_server)
    response = client.responses.create(model="hermes-agent", input="borra esto")
    client.responses.delete(response.id)
    with pytest.raises(openai.NotFoundError) as raised:
        client.responses.retrieve(response.id)
    assert raised.value.code == "response_not_found"


def test_unknown_previous_response_id_is_not_found(agent_server):
    client = client_for(agent_server)
    with pytest.raises(openai.NotFoundError) as raised:
        client.responses.create(model="hermes-agent", input="x", previous_response_id="resp_missing")
    assert raised.value.code == "response_not_found"


def test_idempotency_key_replays(agent_server):
    headers = {"Authorization": f"Bearer {API_KEY}", "Idempotency-Key": "py-responses-1"}
    body = {"model": "hermes-agent", "input": "once"}
    first = requests.post(f"{agent_server.base}/v1/responses", json=body, headers=headers, timeout=30)
    second = requests.post(f"{agent_server.base}/v1/responses", json=body, headers=headers, timeout=30)
    assert first.status_code == 200 and second.status_code == 200
    assert second.headers.get("Idempotency-Replayed") == "true"
    assert second.content == first.content
    other = requests.post(
        f"{agent_server.base}/v1/responses", json={**body, "input": "different"}, headers=headers, timeout=30
    )
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_key_conflict"
