"""A scripted model behind a real OpenAI-compatible loopback endpoint, for attack scenarios.

It answers `/v1/chat/completions` like an instruct model behind vLLM's tool parser
(native `tool_calls`), choosing each reply with `policy(messages, body)`; it can thus
play a model that a hostile page has fooled, and prove that deepstar's guarantees hold
even then. Every request is kept with its headers (to check what a run sends, e.g. the
`Authorization` header); GET paths in `gets` (`/v1/models`, `/health`, `/version`).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["ScriptedModel", "answer", "tool_call"]

Policy = Callable[[list[dict[str, Any]], dict[str, Any]], dict[str, Any]]
MODEL = "scripted-model"


def tool_call(name: str, **arguments: Any) -> dict[str, Any]:
    """An assistant message that calls one tool."""
    return {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_0", "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}]}


def answer(value: dict[str, Any]) -> dict[str, Any]:
    """An assistant message whose content is a JSON object (structured outputs)."""
    return {"role": "assistant", "content": json.dumps(value)}


class ScriptedModel:
    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.gets: list[str] = []
        self._lock = threading.Lock()
        model = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

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
                with model._lock:
                    model.gets.append(self.path)
                if self.path.rstrip("/").endswith("/models"):
                    self._send(200, {"object": "list", "data": [{"id": MODEL, "object": "model"}]})
                elif self.path == "/health":  # vLLM's server routes, for health checks and the engine probe
                    self._send(200, {})
                elif self.path == "/version":
                    self._send(200, {"version": "scripted"})
                else:
                    self._send(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                with model._lock:
                    model.requests.append(body)
                    model.headers.append({k.lower(): v for k, v in self.headers.items()})
                if not self.path.endswith("/chat/completions"):
                    self._send(404, {"error": {"message": "not found"}})
                    return
                message = model.policy(body.get("messages") or [], body)
                self._send(200, {"id": "x", "object": "chat.completion", "model": MODEL,
                                 "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                                 "usage": {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110}})

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="scripted-model", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> ScriptedModel:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
