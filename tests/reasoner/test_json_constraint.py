"""The JSON-schema prefix check behind the torch server's constrained decoding."""

from __future__ import annotations

import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from reasoner.json_constraint import BAD, COMPLETE, PARTIAL, prefix_status
from reasoner.protocol import tool_call_schema

TOOLS = [
    {"type": "function", "function": {"name": "search", "parameters": {
        "type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}}},
    {"type": "function", "function": {"name": "open", "parameters": {
        "type": "object", "properties": {"url": {"type": "string"}, "page": {"type": "integer", "default": 1}},
        "required": ["url"]}}},
]
SCHEMA = tool_call_schema(TOOLS)


def test_every_prefix_of_a_fitting_call_is_partial_and_the_whole_is_complete():
    for call in ({"name": "search", "arguments": {"query": "Eiffel \"Tower\" \\ 1889"}},
                 {"name": "open", "arguments": {"url": "http://wiki.local/Paris", "page": 2}},
                 {"arguments": {"url": "u"}, "name": "open"}):
        text = json.dumps(call, separators=(",", ":"))
        assert prefix_status(text, SCHEMA) == COMPLETE
        for cut in range(len(text)):
            assert prefix_status(text[:cut], SCHEMA) == PARTIAL, text[:cut]


@pytest.mark.parametrize("text", [
    "<tool_call>",                                              # not JSON at all (what the model wrote unconstrained)
    '{ "name"',                                                 # whitespace outside strings
    '{"nam":',                                                  # a key the schema does not have
    '{"name":"fetch"',                                          # a tool that does not exist
    '{"name":"search","arguments":{"url":',                     # another tool's argument
    '{"name":"search","arguments":{}}',                         # a required argument missing
    '{"name":"open","arguments":{"url":"u","page":10000}}',     # an integer over its bound
    '{"name":"open","arguments":{"url":"u","page":-1',          # under its bound
    '{"name":"search","arguments":{"query":"' + "x" * 121,      # a string over its bound
    '{"name":"search","arguments":{"query":"a\nb"}}',           # a raw newline inside a string
    '{"name":"search","name":"search"',                         # a key twice
    '{"name":"search","arguments":{"query":"q"}}}',             # text after the value
])
def test_what_cannot_fit_is_refused(text):
    assert prefix_status(text, SCHEMA) == BAD


def test_any_value_schema():
    for value in ({"a": [1, 2.5, None, True, "x"]}, [], "s", {"k": {"n": -3}}):
        text = json.dumps(value, separators=(",", ":"))
        assert prefix_status(text, {}) in (COMPLETE, PARTIAL)  # a bare number can always go on
        assert prefix_status(text[:-1], {}) == PARTIAL
    assert prefix_status('{"a":01}', {}) == BAD
    assert prefix_status("{'a':1}", {}) == BAD


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_arbitrary_text_never_crashes_and_complete_means_valid(text):
    status = prefix_status(text, SCHEMA)
    assert status in (BAD, PARTIAL, COMPLETE)
    if status == COMPLETE:
        value = json.loads(text)
        assert value["name"] in ("search", "open")


def test_constrained_generation_writes_a_fitting_value():
    """The real decoding path: the tiny model's logits through `generate` with the picker,
    tokens as characters. Unconstrained, this model writes noise; constrained, a call."""
    from reasoner.quiet_star import generate
    from reasoner.torch_server import constrained_picker
    from tests.reasoner.test_quiet_star import VOCAB, tiny_model

    alphabet = ('{}[]:,"' + "abcdefghijklmnopqrstuvwxyz0123456789 \n<>/-_." + "ABCDEFGHIJKLMNOPQRSTUVWXYZ" + "!?;=+*&%$#@~^|`'()")
    alphabet = alphabet[:VOCAB].ljust(VOCAB, "~")

    def decode(tokens: list[int]) -> str:
        return "".join(alphabet[t] for t in tokens)

    schema = {"type": "object", "properties": {"name": {"enum": ["ab", "cd"]}, "n": {"type": "integer", "maximum": 99}},
              "required": ["name"], "additionalProperties": False}
    model = tiny_model(seed=21)
    for thought_len, temperature, seed in ((0, 0.0, 0), (2, 0.0, 0), (2, 1.0, 3)):
        gen = torch.Generator().manual_seed(seed)
        picker = constrained_picker(schema, decode, temperature=temperature, generator=gen)
        with torch.no_grad():
            out = generate(model, [1, 2, 3], max_new_tokens=60, thought_len=thought_len, generator=gen, pick=picker,
                           stop=lambda toks: prefix_status(decode(toks), schema) == COMPLETE)
        text = decode(out)
        assert prefix_status(text, schema) == COMPLETE, text
        assert json.loads(text)["name"] in ("ab", "cd")


def test_no_comma_once_every_key_is_written():
    assert prefix_status('{"name":"search","arguments":{"query":"q"},', SCHEMA) == BAD
    assert prefix_status('{"name":"open","arguments":{"url":"u","page":1,', SCHEMA) == BAD
    assert prefix_status('{"name":"open","arguments":{"url":"u",', SCHEMA) == PARTIAL


def test_the_picker_searches_the_whole_vocabulary_before_giving_up():
    """The one token that keeps the text a value of the schema ranks last of 6,000: the old
    top-4,096 search gave up there (a cut tool call); the whole vocabulary is searched last."""
    import torch

    from reasoner.torch_server import constrained_picker

    vocab = [f"x{k}" for k in range(5999)] + ['"zq"']
    logits = torch.arange(len(vocab), 0, -1, dtype=torch.float32)  # token 0 best, the fitting one worst

    def decode(tokens):
        return "".join(vocab[t] for t in tokens)

    schema = {"enum": ["zq"]}
    assert constrained_picker(schema, decode, widths=(64, 4096))([], logits) is None
    assert constrained_picker(schema, decode)([], logits) == 5999
    gen = torch.Generator().manual_seed(0)
    assert constrained_picker(schema, decode, temperature=0.7, generator=gen)([], logits) == 5999
