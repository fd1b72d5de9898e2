"""A small OpenAI-compatible loopback server over torch generation, for Quiet-STaR.

vLLM has no Quiet-STaR decoding (a thought before every token, then dropped), so a
Quiet-STaR model is served by this one instead: one request at a time, batch size one,
through `reasoner.quiet_star.generate`. It speaks what the client's "deepstar" protocol
uses: `/v1/completions` with a string prompt (rendered with deepstar's chat template),
`stop` strings, `max_tokens`, `temperature`, and `structured_outputs: {"json": schema}`,
enforced token by token with `reasoner.json_constraint` (no whitespace outside strings;
generation stops once the value is complete). `/v1/models` and
`/health` answer as vLLM's do. Thought tokens are never emitted: the LM head scores the
original vocabulary only.

    deepstar quiet-star serve --run DIR --thinking quiet --port 8013
    DEEPSTAR_PROTOCOL=deepstar deepstar eval --tasks T.jsonl --base-url http://127.0.0.1:8013 --model quiet-star
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Completion", "TorchBackend", "make_server"]


@dataclass
class Completion:
    text: str
    finish_reason: str        # "stop" or "length"
    prompt_tokens: int
    completion_tokens: int


def constrained_picker(schema: Any, decode: Callable[[list[int]], str], *, temperature: float = 0.0,
                       generator: Any = None, widths: tuple[int, ...] = (64, 4096, 0)) -> Callable[[list[int], Any], int | None]:
    """A `pick` for `reasoner.quiet_star.generate`: among the best-scored tokens (the top 64,
    then the top 4,096 if none of those fits, then the whole vocabulary: width 0), the ones
    after which the text can still be completed into a value of `schema`; greedy at
    temperature 0, else sampled among the fitting ones of the first width that has any. None
    only when no token of the vocabulary fits. (A barely trained model can rank the one
    token that continues a tool's name below the top 4,096; stopping there cut the call.)"""
    import torch

    from reasoner.json_constraint import BAD, prefix_status

    def pick(tokens: list[int], logits: Any) -> int | None:
        flat = logits.reshape(-1).float()
        for width in widths:
            top = torch.topk(flat, flat.numel() if width <= 0 else min(width, flat.numel()))
            fits = []
            for score, tok in zip(top.values.tolist(), top.indices.tolist(), strict=True):
                if prefix_status(decode(tokens + [tok]), schema) != BAD:
                    if temperature <= 0:
                        return tok
                    fits.append((score, tok))
            if fits:
                scores = torch.tensor([f[0] for f in fits]) / temperature
                return fits[int(torch.multinomial(torch.softmax(scores, -1), 1, generator=generator))][1]
        return None

    return pick


class TorchBackend:
    """Generation with or without Quiet-STaR thoughts, one request at a time."""

    def __init__(self, model: Any, tokenizer: Any, *, thought_len: int = 0, thought_temperature: float = 1.0,
                 seed: int = 0) -> None:
        import torch

        self.model = model
        self.tokenizer = tokenizer
        self.thought_len = thought_len
        self.thought_temperature = thought_temperature
        self.seed = seed
        self.lock = threading.Lock()
        self.session: dict[str, Any] = {}  # the KV cache of the last request: agent turns share long prefixes
        self.device = next(model.parameters()).device
        self.bf16 = next(model.causal_lm.parameters()).dtype == torch.bfloat16
        eos = {tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<end_of_turn>")}
        self.eos_ids = sorted(i for i in eos if isinstance(i, int) and i >= 0 and i != tokenizer.unk_token_id)

    def complete(self, prompt: str, *, max_tokens: int = 256, temperature: float = 0.0, stop: list[str] | None = None,
                 schema: Any = None, seed: int | None = None) -> Completion:
        """`schema`: a JSON schema the completion must fit (dict; {} = any JSON value), or None."""
        import torch

        from reasoner.json_constraint import COMPLETE, prefix_status
        from reasoner.quiet_star import generate

        ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        stops = [s for s in (stop or []) if s]
        state = {"cut": None}

        def should_stop(tokens: list[int]) -> bool:
            text = self.tokenizer.decode(tokens, skip_special_tokens=False)
            hits = [text.find(s) for s in stops if s in text]
            if hits:
                state["cut"] = min(hits)
                return True
            if schema is not None and prefix_status(text, schema) == COMPLETE:
                state["cut"] = len(text)
                return True
            return False

        with self.lock:
            gen = torch.Generator(device=self.device).manual_seed(self.seed if seed is None else seed)
            pick = None
            if schema is not None:
                pick = constrained_picker(schema, lambda toks: self.tokenizer.decode(toks, skip_special_tokens=False),
                                          temperature=temperature, generator=gen)
            with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
                out = generate(self.model, ids, max_new_tokens=max_tokens, thought_len=self.thought_len,
                               temperature=temperature, thought_temperature=self.thought_temperature,
                               generator=gen, stop=should_stop, eos_ids=self.eos_ids, session=self.session,
                               pick=pick)
        text = self.tokenizer.decode(out, skip_special_tokens=False)
        finish = "length"
        if state["cut"] is not None:
            text, finish = text[: state["cut"]], "stop"
        elif out and out[-1] in self.eos_ids:
            text, finish = self.tokenizer.decode(out[:-1], skip_special_tokens=False), "stop"
        return Completion(text=text, finish_reason=finish, prompt_tokens=len(ids), completion_tokens=len(out))


def make_server(backend: TorchBackend, *, model_name: str, port: int = 0, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """The HTTP server (not started): serve_forever() it, or run it in a thread."""
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError(f"the torch server binds loopback only, got host {host!r}")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
            pass

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, message: str) -> None:
            self._send(status, {"error": {"message": message, "type": "BadRequestError", "code": status}})

        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            if self.path.rstrip("/") in ("/health", ""):
                self._send(200, {"status": "ok"})
            elif self.path.rstrip("/") == "/v1/models":
                self._send(200, {"object": "list", "data": [{"id": model_name, "object": "model", "owned_by": "deepstar"}]})
            else:
                self._error(404, f"no route {self.path}")

        def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                self._error(400, "the request body is not JSON")
                return
            if self.path.rstrip("/") == "/v1/chat/completions":
                self._error(400, "this server speaks the completions endpoint only: use the client's 'deepstar' "
                                 "protocol (protocol = 'deepstar' in config.toml, or DEEPSTAR_PROTOCOL=deepstar)")
                return
            if self.path.rstrip("/") != "/v1/completions":
                self._error(404, f"no route {self.path}")
                return
            if body.get("model") not in (None, model_name):
                self._error(404, f"model {body.get('model')!r} is not served here; this server serves {model_name!r}")
                return
            prompt = body.get("prompt")
            if not isinstance(prompt, str):
                self._error(400, "`prompt` must be a string")
                return
            try:
                max_tokens = int(body.get("max_tokens") or 16)
                temperature = float(body.get("temperature") or 0.0)
                n = int(body.get("n") or 1)
            except (TypeError, ValueError):
                self._error(400, "max_tokens, temperature and n must be numbers")
                return
            stop = body.get("stop") or []
            stop = [stop] if isinstance(stop, str) else list(stop)
            constraint = body.get("structured_outputs") or {}
            schema = constraint.get("json") if isinstance(constraint, dict) else None
            if isinstance(schema, str):
                try:
                    schema = json.loads(schema)
                except ValueError:
                    self._error(400, "structured_outputs.json is not a JSON schema")
                    return
            if schema is not None and not isinstance(schema, dict):
                schema = {}  # any JSON value
            t0 = time.monotonic()
            choices, prompt_tokens, completion_tokens = [], 0, 0
            for i in range(max(1, n)):
                seed = body.get("seed")
                done = backend.complete(prompt, max_tokens=max_tokens, temperature=temperature, stop=stop,
                                        schema=schema,
                                        seed=None if seed is None else int(seed) + i)
                choices.append({"index": i, "text": done.text, "finish_reason": done.finish_reason, "logprobs": None})
                prompt_tokens = done.prompt_tokens
                completion_tokens += done.completion_tokens
            self._send(200, {"id": f"cmpl-{uuid.uuid4().hex}", "object": "text_completion", "created": int(time.time()),
                             "model": model_name, "choices": choices,
                             "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                                       "total_tokens": prompt_tokens + completion_tokens},
                             "latency_s": round(time.monotonic() - t0, 3)})

    return ThreadingHTTPServer((host, port), Handler)
