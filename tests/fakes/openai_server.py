"""An OpenAI-protocol server that answers like an instruct model behind vLLM's tool
parser: native `tool_calls`, JSON content under `structured_outputs`. Its "policy" is
scripted (search the sub-question, open the first result, answer from the page), so
tests can drive the whole research graph over real HTTP and real fetches. With `report`, it
also writes the composed report (`report(messages)` -> {answer, summary, sections})."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

URL_RE = re.compile(r"https?://[^\s)\]>]+")


class FakeOpenAI:
    def __init__(self, *, plan: list[str] | None = None, answers: dict[str, str] | None = None,
                 quotes: dict[str, str] | None = None, delays: dict[str, float] | None = None,
                 final_answer: str | None = None, invalid: int = 0,
                 report: Callable[[list[dict[str, Any]]], dict[str, Any]] | None = None) -> None:
        self.plan = plan
        self.report = report
        self.answers = answers or {}
        self.quotes = quotes or {}
        self.delays = delays or {}
        self.final_answer = final_answer
        self.invalid = invalid  # the first N tool turns come back malformed
        self.requests: list[dict[str, Any]] = []
        self.models = ["fake-instruct"]  # /v1/models; /v1/load_lora_adapter adds to it, unload removes
        self.lora_requests: list[tuple[str, str]] = []  # ("load" | "unload", name), in order
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, code: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path.endswith("/models"):
                    self._send(200, {"data": [{"id": m} for m in fake.models]})
                elif self.path == "/health":
                    self._send(200, {})
                else:
                    self._send(404, {"error": "not found"})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path.endswith("/load_lora_adapter"):  # what vLLM does with runtime LoRA updating
                    fake.models.append(body["lora_name"])
                    fake.lora_requests.append(("load", body["lora_name"]))
                    self._send(200, {})
                    return
                if self.path.endswith("/unload_lora_adapter"):
                    known = body["lora_name"] in fake.models
                    if known:
                        fake.models.remove(body["lora_name"])
                        fake.lora_requests.append(("unload", body["lora_name"]))
                    self._send(200 if known else 404, {} if known else {"error": "not found"})
                    return
                with fake.lock:
                    fake.requests.append(body)
                if not self.path.endswith("/chat/completions"):
                    self._send(404, {"error": "not found"})
                    return
                self._send(200, fake.respond(body))

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # --- the scripted policy -------------------------------------------------------------
    def respond(self, body: dict[str, Any]) -> dict[str, Any]:
        messages = body["messages"]
        schema = ((body.get("structured_outputs") or {}).get("json") or {}).get("properties", {})
        if "subquestions" in schema:
            return self._content({"subquestions": self.plan or [self._question(messages)]})
        if "missing" in schema:
            return self._content({"missing": []})
        if "sections" in schema and self.report is not None:
            return self._content(self.report(messages))
        if "answer" in schema and not body.get("tools"):
            return self._content({"answer": self.final_answer or ""})
        question = self._question(messages)
        for key, seconds in self.delays.items():
            if key in question:
                time.sleep(seconds)
        with self.lock:
            if self.invalid > 0:
                self.invalid -= 1
                return self._message({"role": "assistant", "content": "I think", "tool_calls": [
                    {"id": "bad", "type": "function", "function": {"name": "search", "arguments": "{oops"}}]})
        tools = [t["function"]["name"] for t in body.get("tools", [])]
        tool_turns = [m for m in messages if m["role"] == "tool"]
        last = tool_turns[-1]["content"] if tool_turns else ""
        opened = [json.loads(c["function"]["arguments"]).get("url") for m in messages if m["role"] == "assistant"
                  for c in m.get("tool_calls") or [] if c["function"]["name"] == "open"]
        if "search" in tools and not tool_turns:
            return self._call("search", {"query": question})
        if "open" in tools and not opened:
            urls = URL_RE.findall(last)
            if urls:
                return self._call("open", {"url": urls[0]})
        args: dict[str, Any] = {"answer": self._answer(question, last), "url": opened[-1] if opened else ""}
        for key, quote in self.quotes.items():
            if key in question:
                args["quote"] = quote
        return self._call("answer", args)

    def _answer(self, question: str, page: str) -> str:
        for key, value in self.answers.items():
            if key in question:
                return value
        return "unknown"

    @staticmethod
    def _question(messages: list[dict[str, Any]]) -> str:
        user = next(m["content"] for m in messages if m["role"] == "user")
        first = user.splitlines()[0]
        return first.split(":", 1)[1].strip() if ":" in first else first

    def _call(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        return self._message({"role": "assistant", "content": None, "tool_calls": [
            {"id": f"chatcmpl-tool-{len(self.requests)}", "type": "function",
             "function": {"name": name, "arguments": json.dumps(args)}}]})

    def _content(self, value: dict[str, Any]) -> dict[str, Any]:
        return self._message({"role": "assistant", "content": json.dumps(value)})

    @staticmethod
    def _message(message: dict[str, Any]) -> dict[str, Any]:
        return {"id": "x", "object": "chat.completion", "model": "fake-instruct",
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110}}
