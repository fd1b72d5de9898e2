import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reasoner.errors import BadModelOutput
from reasoner.protocol import parse_tool_calls, render_prompt, tool_call_schema, validate_arguments

TOOLS = [
    {"type": "function", "function": {"name": "search", "description": "search the web",
                                      "parameters": {"type": "object", "properties": {"query": {"type": "string"}},
                                                     "required": ["query"], "additionalProperties": False}}},
    {"type": "function", "function": {"name": "open", "description": "open a page",
                                      "parameters": {"type": "object", "properties": {"url": {"type": "string"},
                                                                                       "page": {"type": "integer"}},
                                                     "required": ["url"]}}},
]


def test_render_places_tools_in_the_system_turn_and_ends_with_generation_prompt():
    text = render_prompt([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Q?"}], TOOLS)
    assert text.startswith("<bos><start_of_turn>system\nBe brief.\n\n# Tools\n")
    # compact: one line per tool, optional arguments marked; no JSON schema (the grammar enforces it)
    assert "Tools:\n- search(query): search the web\n- open(url, page?): open a page<end_of_turn>" in text
    assert '"type"' not in text and "properties" not in text
    assert text.endswith("<start_of_turn>user\nQ?<end_of_turn>\n<start_of_turn>model\n")


def test_the_system_turn_of_the_research_tools_is_compact():
    from transformers import AutoTokenizer

    from planner.prompts import ANSWER_TOOL, REACT_SYSTEM
    from tests.planner.test_served_is_trained import MODEL_DIR
    from tools.toolbox import Toolbox

    if not (MODEL_DIR / "tokenizer.json").exists():
        pytest.fail(f"the prepared model's tokenizer is missing at {MODEL_DIR}")
    tokenizer = AutoTokenizer.from_pretrained(MODEL_DIR)
    tools = [cls.schema() for cls in Toolbox.tool_classes] + [ANSWER_TOOL]
    system = render_prompt([{"role": "system", "content": REACT_SYSTEM}], tools, add_generation_prompt=False)
    n = len(tokenizer(system, add_special_tokens=False)["input_ids"])
    assert n < 250, n  # 425 tokens with the JSON schemas rendered
    for name in ("search(query)", "open(url, page?)", "find(url, pattern)", "answer(url, quote?, answer)"):
        assert f"- {name}: " in system


def test_render_of_a_call_matches_what_constrained_decoding_emits():
    call = {"id": "c0", "type": "function", "function": {"name": "search", "arguments": '{"query":"x y"}'}}
    msgs = [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "", "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "c0", "content": "result"}]
    text = render_prompt(msgs, TOOLS, add_generation_prompt=False)
    assert '<start_of_turn>model\n<tool_call>{"name":"search","arguments":{"query":"x y"}}</tool_call><end_of_turn>' in text
    assert "<start_of_turn>tool\nresult<end_of_turn>" in text
    # dict arguments (TRL format) render identically
    call2 = {"type": "function", "function": {"name": "search", "arguments": {"query": "x y"}}}
    msgs[1] = {"role": "assistant", "content": "", "tool_calls": [call2]}
    assert render_prompt(msgs, TOOLS, add_generation_prompt=False) == text


def test_render_matches_transformers_apply_chat_template():
    from transformers.utils.chat_template_utils import render_jinja_template

    from reasoner.prepare import chat_template

    call = {"id": "c0", "type": "function", "function": {"name": "open", "arguments": {"url": "http://a/b", "page": 2}}}
    msgs = [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"},
            {"role": "assistant", "content": "thinking", "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "c0", "content": "page text"}]
    rendered, _ = render_jinja_template([msgs], tools=TOOLS, chat_template=chat_template(),
                                        add_generation_prompt=True, bos_token="<bos>")
    assert rendered[0] == render_prompt(msgs, TOOLS)


def test_parse_a_valid_call():
    content, calls = parse_tool_calls('I will search.<tool_call>{"name": "search", "arguments": {"query": "Eiffel"}}</tool_call>', TOOLS)
    assert content == "I will search."
    assert calls == [{"id": "call_0", "type": "function", "function": {"name": "search", "arguments": '{"query":"Eiffel"}'}}]


def test_parse_plain_text_has_no_calls():
    assert parse_tool_calls("The answer is 1889.", TOOLS) == ("The answer is 1889.", [])


def test_parse_unclosed_call_at_the_end_is_accepted():
    _, calls = parse_tool_calls('<tool_call>{"name":"open","arguments":{"url":"http://x"}}', TOOLS)
    assert json.loads(calls[0]["function"]["arguments"]) == {"url": "http://x"}


@pytest.mark.parametrize("text, why", [
    ('<tool_call>{"name": "search", "arguments": {"query": </tool_call>', "valid JSON"),
    ('<tool_call>{"name": "delete_all", "arguments": {}}</tool_call>', "unknown tool"),
    ('<tool_call>{"name": "search", "arguments": {}}</tool_call>', "missing required argument"),
    ('<tool_call>{"name": "search", "arguments": {"query": 3}}</tool_call>', "must be string"),
    ('<tool_call>{"name": "search", "arguments": {"query": "a", "x": 1}}</tool_call>', "unknown argument"),
    ('<tool_call>["search"]</tool_call>', "must be"),
    ('<tool_call>{"name": "open", "arguments": {"url": "u", "page": true}}</tool_call>', "must be integer"),
])
def test_parse_rejects_bad_calls_with_a_reason(text, why):
    with pytest.raises(BadModelOutput, match=why):
        parse_tool_calls(text, TOOLS)


def test_schema_has_one_branch_per_tool():
    schema = tool_call_schema(TOOLS)
    assert [b["properties"]["name"]["const"] for b in schema["anyOf"]] == ["search", "open"]
    assert validate_arguments({"query": "x"}, TOOLS[0]["function"]["parameters"]) is None


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_parser_never_raises_anything_but_bad_model_output(text):
    try:
        content, calls = parse_tool_calls(text, TOOLS)
    except BadModelOutput:
        return
    assert isinstance(content, str)
    for call in calls:
        assert isinstance(json.loads(call["function"]["arguments"]), dict)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=80))
def test_parse_round_trips_any_query(query):
    text = "<tool_call>" + json.dumps({"name": "search", "arguments": {"query": query}}) + "</tool_call>"
    _, calls = parse_tool_calls(text, TOOLS)
    assert json.loads(calls[0]["function"]["arguments"]) == {"query": query}


def test_a_closing_tag_inside_a_string_does_not_cut_the_call():
    text = '<tool_call>{"name":"search","arguments":{"query":"a</tool_call>b"}}</tool_call>'
    _, calls = parse_tool_calls(text, TOOLS)
    assert json.loads(calls[0]["function"]["arguments"]) == {"query": "a</tool_call>b"}


def test_trailing_garbage_after_the_json_is_rejected():
    with pytest.raises(BadModelOutput, match="must end with"):
        parse_tool_calls('<tool_call>{"name":"search","arguments":{"query":"a"}} and more', TOOLS)


def test_two_calls_get_distinct_ids():
    one = '<tool_call>{"name":"search","arguments":{"query":"a"}}</tool_call>'
    _, calls = parse_tool_calls(one + one, TOOLS)
    assert [c["id"] for c in calls] == ["call_0", "call_1"]
