"""The official `openai` Python SDK, exactly as the seed guide uses it, against the real binary."""

from openai import OpenAI

from conftest import API_KEY, FAKE_DEFAULT_REPLY


def client_for(server) -> OpenAI:
    return OpenAI(
        base_url=f"{server.base}/v1",
        api_key=API_KEY,
        default_headers={"X-Hermes-Session-Key": "tu-session-key:formulario:contacto"},
    )


def test_chat_completion_non_stream(agent_server):
    client = client_for(agent_server)
    response = client.chat.completions.create(
        model="hermes-agent",
        messages=[
            {"role": "system", "content": "Eres un asistente creativo."},
            {"role": "user", "content": "¿Qué servicios ofrece tu marca?"},
        ],
    )
    assert response.choices[0].message.content == FAKE_DEFAULT_REPLY
    assert response.choices[0].finish_reason == "stop"
    assert response.usage.total_tokens > 0


def test_chat_completion_stream(agent_server):
    client = client_for(agent_server)
    stream = client.chat.completions.create(
        model="hermes-agent",
        stream=True,
        stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "Escribe un slogan para mi marca."}],
    )
    text = ""
    usage = None
    for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
        if chunk.usage:
            usage = chunk.usage
    assert text == FAKE_DEFAULT_REPLY
    assert usage is not None and usage.total_tokens > 0


def test_sdk_raises_authentication_error_on_wrong_key(agent_server):
    import openai

    client = OpenAI(base_url=f"{agent_server.base}/v1", api_key="wrong-key-0123456789abcdef", max_retries=0)
    try:
        client.chat.completions.create(model="x", messages=[{"role": "user", "content": "hi"}])
        raise AssertionError("expected AuthenticationError")
    except openai.AuthenticationError as error:
        assert error.code == "invalid_api_key"


def test_sdk_lists_models(agent_server):
    models = client_for(agent_server).models.list()
    assert models.data[0].id == "hermes-agent"
