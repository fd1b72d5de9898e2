"""JSON-schema-constrained decoding for the torch generation path (`quiet-star serve`).

vLLM enforces a tool call's JSON schema with a grammar; the torch server has none, and the
bundled 270M model left unconstrained loops on `<tool_call>` instead of writing JSON. This
module answers one question for a decoder: can `text` still be completed into a value that
fits the schema? The decoder then takes, among the model's best-scored tokens, only those
that keep the answer "yes", and stops once the value is complete.

It covers the schemas deepstar's tool calls use (`reasoner.protocol.tool_call_schema`):
objects with known properties (`required`; keys outside `properties` are refused, as a
closed object's are), `anyOf`, `const`, `enum`, strings (`maxLength`), integers
(`minimum`/`maximum`), numbers, booleans, null, arrays (`items`), and `{}` for any value.
Whitespace outside strings is refused, as vLLM's `disable_any_whitespace` does: a tiny model
otherwise fills JSON with spaces.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["BAD", "COMPLETE", "PARTIAL", "prefix_status"]

BAD, PARTIAL, COMPLETE = "bad", "partial", "complete"
_ESCAPES = set('"\\/bfnrt')
_DIGITS = set("0123456789")


class _Out(Exception):
    """The text ended inside a value that could still be completed."""


PATTERN_MAX_CHARS = 60  # a string held to a pattern: the most characters decoded for it


def prefix_status(text: str, schema: dict[str, Any]) -> str:
    """BAD if no completion of `text` fits `schema` ({} = any JSON value); COMPLETE if `text`
    is exactly one value that fits it; PARTIAL if it is the beginning of one."""
    try:
        ends = _value(text, 0, schema)
    except _Out:
        return PARTIAL
    return COMPLETE if len(text) in ends else BAD


# Each parser takes (text, position, schema) and returns the set of positions where a
# fitting value can end; an empty set means it cannot fit. It raises _Out when the text ends
# inside the value while the value could still fit (for anyOf: while some branch could).

def _value(s: str, i: int, schema: dict[str, Any]) -> set[int]:
    if "anyOf" in schema or "oneOf" in schema:
        # a branch that ends here wins over one that ran out (tool-call branches differ by
        # their `name` const, so at most one gets past it)
        ends: set[int] = set()
        ran_out = False
        for branch in schema.get("anyOf") or schema.get("oneOf"):
            try:
                ends |= _value(s, i, branch)
            except _Out:
                ran_out = True
        if ran_out and not ends:
            raise _Out
        return ends
    if "const" in schema or "enum" in schema:
        options = [schema["const"]] if "const" in schema else list(schema["enum"])
        literals = [json.dumps(v, ensure_ascii=False, separators=(",", ":")) for v in options]
        rest = s[i:]
        ends = {i + len(lit) for lit in literals if rest.startswith(lit)}
        if not ends and any(lit.startswith(rest) for lit in literals):
            raise _Out
        return ends
    if i >= len(s):
        raise _Out
    kind = schema.get("type")
    if isinstance(kind, list):
        return _value(s, i, {"anyOf": [{**schema, "type": k} for k in kind]})
    c = s[i]
    if kind == "object" or (kind is None and c == "{"):
        return _object(s, i, schema)
    if kind == "array" or (kind is None and c == "["):
        return _array(s, i, schema)
    if kind == "string" or (kind is None and c == '"'):
        # a `pattern` is not followed here (the check after decoding flags a miss); it is bounded
        return _string(s, i, schema.get("maxLength", PATTERN_MAX_CHARS if "pattern" in schema else None))
    if kind in ("integer", "number") or (kind is None and (c in _DIGITS or c == "-")):
        return _number(s, i, schema, integer=kind == "integer")
    if kind == "boolean":
        return _value(s, i, {"enum": [True, False]})
    if kind == "null":
        return _value(s, i, {"const": None})
    if kind is None:
        return _value(s, i, {"enum": [True, False, None]})
    return set()


def _string(s: str, i: int, max_len: int | None) -> set[int]:
    if s[i] != '"':
        return set()
    j, n = i + 1, 0
    while True:
        if j >= len(s):
            raise _Out
        c = s[j]
        if c == '"':
            return {j + 1}
        if ord(c) < 0x20:  # raw control characters are not allowed in JSON strings
            return set()
        if max_len is not None and n >= max_len:
            return set()
        if c == "\\":
            if j + 1 >= len(s):
                raise _Out
            e = s[j + 1]
            if e == "u":
                hexpart = s[j + 2: j + 6]
                if any(h not in "0123456789abcdefABCDEF" for h in hexpart):
                    return set()
                if len(hexpart) < 4:
                    raise _Out
                j += 6
            elif e in _ESCAPES:
                j += 2
            else:
                return set()
        else:
            j += 1
        n += 1


def _digits(s: str, j: int) -> int | None:
    """End of the run of digits at j; None when there is none (raises _Out at the text's end)."""
    start = j
    while j < len(s) and s[j] in _DIGITS:
        j += 1
    if j > start:
        return j
    if j >= len(s):
        raise _Out
    return None


def _number(s: str, i: int, schema: dict[str, Any], *, integer: bool) -> set[int]:
    j = i
    if s[j] == "-":
        if integer and schema.get("minimum", -1) >= 0:
            return set()
        j += 1
    start = j
    end = _digits(s, j)
    if end is None or (s[start] == "0" and end - start > 1):  # no digits, or a leading zero
        return set()
    j = end
    if not integer and j < len(s) and s[j] == ".":
        end = _digits(s, j + 1)
        if end is None:
            return set()
        j = end
    value = float(s[i:j]) if not integer else int(s[i:j])
    if "maximum" in schema and value > schema["maximum"]:
        return set()
    if j >= len(s):  # more digits could follow
        raise _Out
    if "minimum" in schema and value < schema["minimum"]:
        return set()
    return {j}


def _object(s: str, i: int, schema: dict[str, Any]) -> set[int]:
    if s[i] != "{":
        return set()
    props: dict[str, Any] | None = schema.get("properties")
    required = set(schema.get("required") or [])
    seen: set[str] = set()
    j = i + 1
    while True:
        if j >= len(s):
            raise _Out
        if s[j] == "}":
            return {j + 1} if required <= seen else set()
        if seen:
            if s[j] != "," or (props is not None and not set(props) - seen):  # no key left to write
                return set()
            j += 1
            if j >= len(s):
                raise _Out
        # a key: one of the schema's properties not written yet (any string if none are named)
        if props is None:
            ends = _string(s, j, None)
            key_end = min(ends) if ends else None
            if key_end is None:
                return set()
            key = json.loads(s[j:key_end])
        else:
            open_keys = [k for k in props if k not in seen]
            literals = {json.dumps(k, ensure_ascii=False): k for k in open_keys}
            rest = s[j:]
            hit = next((lit for lit in literals if rest.startswith(lit)), None)
            if hit is None:
                if any(lit.startswith(rest) for lit in literals):
                    raise _Out
                return set()
            key, key_end = literals[hit], j + len(hit)
        if key in seen:
            return set()
        if key_end >= len(s):
            raise _Out
        if s[key_end] != ":":
            return set()
        ends = _value(s, key_end + 1, (props or {}).get(key, {}) if props is not None else {})
        if not ends:
            return set()
        # a value can end in more than one place only inside anyOf; go on from the last one
        j = max(ends)
        seen.add(key)


def _array(s: str, i: int, schema: dict[str, Any]) -> set[int]:
    if s[i] != "[":
        return set()
    items = schema.get("items") if isinstance(schema.get("items"), dict) else {}
    j, count = i + 1, 0
    while True:
        if j >= len(s):
            raise _Out
        if s[j] == "]":
            return {j + 1}
        if count:
            if s[j] != ",":
                return set()
            j += 1
        ends = _value(s, j, items)
        if not ends:
            return set()
        j, count = max(ends), count + 1
