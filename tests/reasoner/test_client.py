"""The client against a fake transport injected through its http_client seam."""

import json

import httpx
import pytest

from reasoner.client import Limits, ReasonerClient, RetryPolicy, Timeout
from reasoner.errors import EndpointError, EndpointUnavailable, RateLimited, RequestTimeout

TOOLS = [{"type": "function", "function": {"name": "search", "description": "s",
                                           "parameters": {"type": "object", "properties": {"query": {"type": "string"}},
                                                          "required": ["query"]}}}]
FAST = RetryPolicy(max_retries=2, backoff_s=0.001, max_backoff_s=0.01)


def completion(text, prompt_tokens=11, completion_tokens=3, **extra):
    return {"model": "m", "choices": [{"index": 0, "text": text, "finish_reason": "stop", **extra}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens}}


def make(handler, **kw):
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    kw.setdefault("retry", FAST)
    return ReasonerClient("http://fake:1/v1", model="m", http_client=http, **kw)


async def test_retries_on_503_then_succeeds_and_counts_usage_once():
    calls = []

    def handler(request):
        calls.append(request)
        if len(calls) < 3:
            return httpx.Response(503, text="busy")
        return httpx.Response(200, json=completion("hello"))

    client = make(handler)
    res = await client.complete("hi")
    assert res.text == "hello" and len(calls) == 3
    assert (client.usage.prompt_tokens, client.usage.completion_tokens, client.usage.calls) == (11, 3, 1)


async def test_429_after_all_retries_is_rate_limited():
    client = make(lambda r: httpx.Response(429, text="slow down", headers={"retry-after": "0"}))
    with pytest.raises(RateLimited) as info:
        await client.complete("hi")
    assert info.value.status == 429


async def test_400_is_not_retried():
    seen = []

    def handler(request):
        seen.append(1)
        return httpx.Response(400, json={"error": "bad"})

    with pytest.raises(EndpointError, match="400"):
        await make(handler).complete("hi")
    assert len(seen) == 1


async def test_connection_errors_are_retried_then_reported():
    seen = []

    def handler(request):
        seen.append(1)
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(EndpointUnavailable, match="after 3 attempts"):
        await make(handler).complete("hi")
    assert len(seen) == 3


async def test_server_dying_mid_request_is_an_endpoint_error_not_a_crash():
    def handler(request):
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.", request=request)

    with pytest.raises(EndpointUnavailable, match="RemoteProtocolError"):
        await make(handler).complete("hi")


async def test_read_timeout_is_reported_with_the_limit():
    def handler(request):
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(RequestTimeout, match="within 5"):
        await make(handler, timeout=Timeout(read=5)).complete("hi")


async def test_non_json_body_is_a_clear_error():
    with pytest.raises(EndpointError, match="not JSON"):
        await make(lambda r: httpx.Response(200, text="<html>")).complete("hi")


async def test_deepstar_protocol_prefills_and_constrains_a_required_call():
    bodies = []

    def handler(request):
        bodies.append(json.loads(request.content))
        return httpx.Response(200, json=completion('{"name":"search","arguments":{"query":"eiffel tower"}}'))

    client = make(handler, protocol="deepstar")
    res = await client.chat([{"role": "user", "content": "When?"}], tools=TOOLS, tool_choice="required")
    body = bodies[0]
    assert body["prompt"].endswith("<start_of_turn>model\n<tool_call>")
    assert body["structured_outputs"]["disable_any_whitespace"] is True
    assert body["structured_outputs"]["json"]["properties"]["name"]["const"] == "search"
    call = res.message["tool_calls"][0]
    assert call["function"] == {"name": "search", "arguments": '{"query":"eiffel tower"}'}
    assert res.choice.error is None and res.usage.completion_tokens == 3


async def test_deepstar_protocol_reports_unparseable_output_on_the_choice():
    client = make(lambda r: httpx.Response(200, json=completion('{"name":"search","argu')), protocol="deepstar")
    res = await client.chat([{"role": "user", "content": "Q"}], tools=TOOLS, tool_choice="required")
    assert "valid JSON" in res.choice.error
    assert "tool_calls" not in res.message


async def test_native_protocol_passes_tools_and_parses_tool_calls():
    bodies = []

    def handler(request):
        bodies.append(json.loads(request.content))
        msg = {"role": "assistant", "content": None, "tool_calls": [
            {"id": "x1", "type": "function", "function": {"name": "search", "arguments": '{"query": "a"}'}}]}
        return httpx.Response(200, json={"model": "m", "choices": [{"index": 0, "message": msg, "finish_reason": "tool_calls"}],
                                         "usage": {"prompt_tokens": 5, "completion_tokens": 7}})

    res = await make(handler).chat([{"role": "user", "content": "Q"}], tools=TOOLS, n=1,
                                   structured_outputs={"json": {"type": "object"}})
    assert bodies[0]["tools"] == TOOLS and bodies[0]["structured_outputs"] == {"json": {"type": "object"}}
    assert res.message["tool_calls"][0]["function"]["arguments"] == '{"query":"a"}'


async def test_native_protocol_flags_bad_json_arguments():
    msg = {"role": "assistant", "content": "", "tool_calls": [
        {"id": "x1", "type": "function", "function": {"name": "search", "arguments": "{not json"}}]}
    client = make(lambda r: httpx.Response(200, json={"choices": [{"message": msg}], "usage": {}}))
    res = await client.chat([{"role": "user", "content": "Q"}], tools=TOOLS, tool_choice="required")
    assert "not a JSON object" in res.choice.error


async def test_n_samples_come_back_in_index_order():
    body = {"model": "m", "usage": {"prompt_tokens": 1, "completion_tokens": 2},
            "choices": [{"index": 1, "text": "b"}, {"index": 0, "text": "a"}]}
    res = await make(lambda r: httpx.Response(200, json=body)).complete("p", n=2)
    assert res.texts == ["a", "b"]


async def test_concurrency_limit_is_honoured():
    import asyncio

    async def handler(request):
        await asyncio.sleep(0.01)
        return httpx.Response(200, json=completion("x"))

    client = make(handler, limits=Limits(max_concurrency=3))
    await asyncio.gather(*(client.complete("p") for _ in range(12)))
    assert client.max_in_flight == 3 and client.usage.calls == 12


async def test_model_is_discovered_when_not_given():
    def handler(request):
        if request.url.path.endswith("/models"):
            return httpx.Response(200, json={"data": [{"id": "served-one"}]})
        assert json.loads(request.content)["model"] == "served-one"
        return httpx.Response(200, json=completion("ok"))

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    client = ReasonerClient("http://fake:1", http_client=http, retry=FAST)
    assert (await client.complete("p")).model == "m"


async def test_a_prompt_over_the_context_window_is_its_own_error():
    from reasoner.errors import ContextLengthExceeded

    body = {"error": {"message": "This model's maximum context length is 4096 tokens. However, your prompt ..."}}
    with pytest.raises(ContextLengthExceeded):
        await make(lambda r: httpx.Response(400, json=body)).complete("hi")


async def test_a_client_without_per_request_seeds_never_sends_one():
    bodies = []

    def handler(request):
        bodies.append(json.loads(request.content))
        return httpx.Response(200, json=completion("x"))

    await make(handler, per_request_seed=False).complete("p", seed=7, temperature=0.7)
    await make(handler).complete("p", seed=7)
    assert "seed" not in bodies[0] and bodies[1]["seed"] == 7


async def test_a_named_tool_choice_narrows_the_grammar_but_renders_every_tool():
    import json as _json

    tools = [{"type": "function", "function": {"name": n, "description": f"{n} it", "parameters": {
        "type": "object", "properties": {"x": {"type": "string"}}, "required": ["x"]}}} for n in ("search", "answer")]
    bodies = []

    def handler(request):
        bodies.append(_json.loads(request.content))
        return httpx.Response(200, json=completion('{"name":"answer","arguments":{"x":"1889"}}'))

    client = make(handler, protocol="deepstar")
    messages = [{"role": "user", "content": "Q?"}]
    res = await client.chat(messages, tools=tools, tool_choice={"type": "function", "function": {"name": "answer"}})
    forced = await client.chat(messages, tools=tools, tool_choice="required")
    assert res.choices[0].message["tool_calls"][0]["function"]["name"] == "answer" and forced.choices[0].error is None
    # the same prompt as a free choice: both tools described ...
    assert bodies[0]["prompt"] == bodies[1]["prompt"] and "- search(x): search it" in bodies[0]["prompt"]
    # ... while the grammar allows only `answer`
    assert bodies[0]["structured_outputs"]["json"]["properties"]["name"] == {"const": "answer"}
    assert len(bodies[1]["structured_outputs"]["json"]["anyOf"]) == 2
    with pytest.raises(ValueError, match="not among the tools"):
        await client.chat(messages, tools=tools, tool_choice={"type": "function", "function": {"name": "open"}})
