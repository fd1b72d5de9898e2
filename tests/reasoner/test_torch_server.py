"""The torch server's HTTP surface on loopback, with a scripted backend behind it."""

from __future__ import annotations

import threading

import httpx
import pytest

from reasoner.client import ReasonerClient
from reasoner.torch_server import Completion, make_server


class ScriptedBackend:
    def __init__(self, text: str) -> None:
        self.text = text
        self.calls: list[dict] = []

    def complete(self, prompt: str, **kw) -> Completion:
        self.calls.append({"prompt": prompt, **kw})
        return Completion(text=self.text, finish_reason="stop", prompt_tokens=len(prompt.split()), completion_tokens=3)


@pytest.fixture
def served():
    backend = ScriptedBackend('{"name": "search", "arguments": {"query": "Paris"}}')
    server = make_server(backend, model_name="qs", port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield backend, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_routes_and_errors(served):
    backend, url = served
    assert httpx.get(f"{url}/health").json() == {"status": "ok"}
    assert httpx.get(f"{url}/v1/models").json()["data"][0]["id"] == "qs"
    assert httpx.post(f"{url}/v1/completions", json={"model": "other", "prompt": "x"}).status_code == 404
    assert httpx.post(f"{url}/v1/completions", json={"model": "qs", "prompt": ["x"]}).status_code == 400
    assert httpx.post(f"{url}/v1/chat/completions", json={}).status_code == 400
    body = httpx.post(f"{url}/v1/completions", json={"model": "qs", "prompt": "a b", "max_tokens": 7, "stop": "Z",
                                                     "structured_outputs": {"json": {}}}).json()
    assert body["choices"][0]["text"].startswith("{") and body["usage"]["prompt_tokens"] == 2
    assert backend.calls[-1]["max_tokens"] == 7 and backend.calls[-1]["stop"] == ["Z"]
    assert backend.calls[-1]["schema"] == {}
    schema = {"type": "object", "properties": {"q": {"type": "string"}}}
    httpx.post(f"{url}/v1/completions", json={"model": "qs", "prompt": "a", "structured_outputs": {"json": schema}})
    assert backend.calls[-1]["schema"] == schema
    httpx.post(f"{url}/v1/completions", json={"model": "qs", "prompt": "a"})
    assert backend.calls[-1]["schema"] is None
    bad = httpx.post(f"{url}/v1/completions", json={"model": "qs", "prompt": "a", "structured_outputs": {"json": "{no"}})
    assert bad.status_code == 400 and "schema" in bad.json()["error"]["message"]


async def test_the_deepstar_protocol_client_gets_a_tool_call(served):
    backend, url = served
    tools = [{"type": "function", "function": {"name": "search", "description": "web search",
                                                "parameters": {"type": "object", "properties": {"query": {"type": "string"}},
                                                               "required": ["query"]}}}]
    async with ReasonerClient(url, protocol="deepstar", model="qs") as client:
        result = await client.chat([{"role": "user", "content": "capital of France?"}], tools=tools,
                                   tool_choice="required", max_tokens=32)
    call = result.choices[0].message["tool_calls"][0]
    assert call["function"]["name"] == "search"
    assert backend.calls[-1]["prompt"].endswith("<tool_call>")
    assert backend.calls[-1]["schema"]["properties"]["name"] == {"const": "search"}  # the client's tool-call schema


def test_binds_loopback_only():
    with pytest.raises(ValueError, match="loopback"):
        make_server(ScriptedBackend(""), model_name="qs", host="0.0.0.0")
