"""The action protocol for base models without a chat template of their own.

deepstar renders the conversation with its own template (`templates/deepstar_chat.jinja`,
also installed as the prepared checkpoint's chat template so vLLM's chat endpoint and
training's `apply_chat_template` render the same text), and a tool call is the text
`<tool_call>{"name":NAME,"arguments":{...}}</tool_call>`.

To make a tiny model's calls well-formed, a turn that must call a tool is prefilled
with `<tool_call>` and the rest is decoded under a JSON schema (one branch per tool,
`disable_any_whitespace` so the grammar leaves no room for runaway whitespace).
`parse_tool_calls` turns model text into OpenAI `tool_calls` and is the one place that
trusts nothing about that text.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from reasoner.errors import BadModelOutput

__all__ = [
    "CALL_CLOSE",
    "CALL_OPEN",
    "CORRECTIVE_PREFIX",
    "DECODING_KEY",
    "END_OF_TURN",
    "HINT_PREFIX",
    "is_invalid_turn",
    "parse_tool_calls",
    "public_tools",
    "render_prompt",
    "strip_hint",
    "tool_call_schema",
    "validate_arguments",
]

# STaR rationalization puts the gold answer into the user turn after this prefix; the
# planner writes it and every saved trajectory has it cut off (`strip_hint`).
HINT_PREFIX = "\n(Hint: the answer is "
CALL_OPEN = "<tool_call>"
CALL_CLOSE = "</tool_call>"
END_OF_TURN = "<end_of_turn>"


# What the planner tells the model after an output that is no valid tool call. Training
# leaves such an output unlabelled (`is_invalid_turn`): the model is never taught its mistakes.
CORRECTIVE_PREFIX = "Your last output was not a valid tool call ("


def is_invalid_turn(messages: list[dict[str, Any]], i: int) -> bool:
    """Whether assistant message i is an invalid output: marked `weight: 0` (OpenAI's
    fine-tuning convention) or answered by the planner's corrective user turn."""
    message = messages[i]
    if message.get("role") != "assistant":
        return False
    if message.get("weight") == 0:
        return True
    nxt = messages[i + 1] if i + 1 < len(messages) else None
    return bool(nxt and nxt.get("role") == "user" and str(nxt.get("content") or "").startswith(CORRECTIVE_PREFIX))


def strip_hint(text: str) -> str:
    """`text` without a rationalization hint (everything from HINT_PREFIX on)."""
    cut = text.find(HINT_PREFIX)
    return text if cut < 0 else text[:cut]


def _tojson(value: Any, ensure_ascii: bool = False, indent: int | None = None,
            separators: tuple[str, str] | None = None, sort_keys: bool = False) -> str:
    # Same signature and output as transformers' `tojson` filter, so the rendering here
    # and `tokenizer.apply_chat_template` agree byte for byte.
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


@lru_cache(maxsize=1)
def _template() -> jinja2.Template:
    from importlib.resources import files

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.filters["tojson"] = _tojson
    source = files("reasoner").joinpath("templates/deepstar_chat.jinja").read_text(encoding="utf-8")
    return env.from_string(source)


def render_prompt(
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]] | None = None,
    *,
    add_generation_prompt: bool = True,
    bos_token: str = "<bos>",
) -> str:
    """The prompt text for `messages`, BOS included (vLLM's completions endpoint adds none
    for the bundled tokenizer, and its chat endpoint takes BOS from the template)."""
    return _template().render(
        messages=messages, tools=tools or None, add_generation_prompt=add_generation_prompt, bos_token=bos_token
    )


MAX_STRING_CHARS = 120
MAX_INTEGER = 9999


def _bounded(schema: Any) -> Any:
    """A copy of `schema` whose strings and integers are bounded, so decoding cannot
    ramble on inside a value until max_tokens cuts the call in half."""
    if isinstance(schema, dict):
        out = {k: _bounded(v) for k, v in schema.items()}
        # a pattern bounds its own length (the grammar takes a regex or a length, not both)
        if out.get("type") == "string" and not {"maxLength", "enum", "pattern"} & set(out):
            out["maxLength"] = MAX_STRING_CHARS
        if out.get("type") == "integer":  # digits are unbounded too
            out.setdefault("minimum", 0)
            out.setdefault("maximum", MAX_INTEGER)
        return out
    if isinstance(schema, list):
        return [_bounded(v) for v in schema]
    return schema


# A tool's function may carry, under this key, the JSON schema its arguments are decoded under:
# narrower than `parameters` (which the prompt describes and calls are validated against), e.g.
# the answer tool's quotes and spans of the pages a branch read (planner.prompts.answer_tool).
# Only the grammar sees it: it is never sent to an endpoint nor recorded in a trajectory.
DECODING_KEY = "x-deepstar-decoding"


def public_tools(tools: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    """`tools` without their decoding schemas (DECODING_KEY): what an endpoint and a record get."""
    if not tools or not any(DECODING_KEY in t.get("function", t) for t in tools):
        return tools
    out = []
    for tool in tools:
        if "function" in tool:
            out.append({**tool, "function": {k: v for k, v in tool["function"].items() if k != DECODING_KEY}})
        else:
            out.append({k: v for k, v in tool.items() if k != DECODING_KEY})
    return out


def tool_call_schema(tools: list[dict[str, Any]]) -> dict[str, Any]:
    """JSON schema of one call to any of `tools` (OpenAI tool definitions), strings bounded;
    a tool's decoding schema (DECODING_KEY) stands for its parameters when it has one."""
    branches = []
    for tool in tools:
        fn = tool.get("function", tool)
        params = _bounded(fn.get(DECODING_KEY) or fn.get("parameters") or {"type": "object", "properties": {}})
        branches.append({
            "type": "object",
            "properties": {"name": {"const": fn["name"]}, "arguments": params},
            "required": ["name", "arguments"],
            "additionalProperties": False,
        })
    if not branches:
        raise ValueError("tool_call_schema needs at least one tool")
    return branches[0] if len(branches) == 1 else {"anyOf": branches}


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,),
    "object": (dict,), "array": (list,),
}


def validate_arguments(arguments: Any, parameters: dict[str, Any]) -> str | None:
    """Why `arguments` does not fit the tool's parameter schema, or None when it does.

    A light check (required keys, no unknown keys when closed, top-level types, enums):
    enough to turn a malformed call into a corrective observation for the model.
    """
    if not isinstance(arguments, dict):
        return f"arguments must be a JSON object, got {type(arguments).__name__}"
    props: dict[str, Any] = parameters.get("properties", {})
    for key in parameters.get("required", []):
        if key not in arguments:
            return f"missing required argument {key!r}"
    for key, value in arguments.items():
        if key not in props:
            if parameters.get("additionalProperties", True) is False:
                return f"unknown argument {key!r}"
            continue
        spec = props[key]
        expected = spec.get("type")
        if isinstance(expected, str) and expected in _JSON_TYPES:
            ok = isinstance(value, _JSON_TYPES[expected]) and not (expected in ("integer", "number") and isinstance(value, bool))
            if not ok:
                return f"argument {key!r} must be {expected}, got {type(value).__name__}"
        if "enum" in spec and value not in spec["enum"]:
            return f"argument {key!r} must be one of {spec['enum']}"
        if "pattern" in spec and isinstance(value, str) and re.fullmatch(spec["pattern"], value) is None:
            return f"argument {key!r} does not have the form the question asks for"
    return None


def parse_tool_calls(
    text: str, tools: list[dict[str, Any]] | None = None, *, id_prefix: str = "call"
) -> tuple[str, list[dict[str, Any]]]:
    """Split model text into (content, OpenAI tool_calls).

    Raises BadModelOutput when a `<tool_call>` block is present but is not a valid call
    of a known tool with fitting arguments; text without any block is plain content.
    Arguments are re-serialized compactly, exactly as the chat template renders them.
    """
    if not isinstance(text, str):
        raise BadModelOutput("model output is not text", text=repr(text))
    known = {}
    for tool in tools or []:
        fn = tool.get("function", tool)
        known[fn["name"]] = fn.get("parameters") or {"type": "object", "properties": {}}
    first = text.find(CALL_OPEN)
    content = (text if first < 0 else text[:first]).replace(END_OF_TURN, "").strip()
    calls = []
    decoder = json.JSONDecoder()
    pos = first
    while pos >= 0:
        # Decode exactly one JSON value after the tag: a string inside the call may itself
        # contain "</tool_call>", so the closing tag cannot be searched for first.
        start = pos + len(CALL_OPEN)
        while start < len(text) and text[start].isspace():
            start += 1
        try:
            obj, end = decoder.raw_decode(text, start)
        except (ValueError, RecursionError) as exc:
            raise BadModelOutput(f"tool call is not valid JSON ({exc})", text=text) from None
        rest = text[end:].lstrip()
        if rest and not rest.startswith((CALL_CLOSE, END_OF_TURN, CALL_OPEN)):
            raise BadModelOutput("a tool call must end with </tool_call> after its JSON", text=text)
        pos = text.find(CALL_OPEN, end)
        if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
            raise BadModelOutput('a tool call must be {"name": ..., "arguments": {...}}', text=text)
        name, args = obj["name"], obj.get("arguments", {})
        if isinstance(args, str):  # some models double-encode
            try:
                args = json.loads(args)
            except ValueError:
                raise BadModelOutput(f"arguments of {name!r} are not a JSON object", text=text) from None
        if tools is not None:
            if name not in known:
                raise BadModelOutput(f"unknown tool {name!r} (available: {', '.join(sorted(known))})", text=text)
            problem = validate_arguments(args, known[name])
            if problem:
                raise BadModelOutput(f"bad call of {name!r}: {problem}", text=text)
        elif not isinstance(args, dict):
            raise BadModelOutput(f"arguments of {name!r} must be a JSON object", text=text)
        calls.append({
            "id": f"{id_prefix}_{len(calls)}",
            "type": "function",
            "function": {"name": name, "arguments": json.dumps(args, ensure_ascii=False, separators=(",", ":"))},
        })
    return content, calls
