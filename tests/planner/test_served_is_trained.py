"""What is trained is what is served: a research branch driven through the real
`ReasonerClient` (deepstar protocol, its HTTP answered by a mock transport), then the
recorded conversation encoded for SFT with the real tokenizer of the prepared model. Every
prompt the server was sent must be, token for token, the prefix training builds for that
turn, the last allowed turn (answer forced) included; an invalid output is unlabelled."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest

from agent.record import linearize
from planner.configuration import PlannerConfig
from planner.graph import Budget, RunContext, run_tool_loop
from planner.prompts import ANSWER_TOOL
from reasoner.client import ReasonerClient
from reasoner.train import IGNORE_INDEX, encode_conversation
from tests.planner.fakes import FakeToolbox

PAGE = "http://site/wiki/Eiffel_Tower"
TEXT = "# Eiffel Tower\nThe Eiffel Tower is a tower in Paris. It was completed in 1889."
_HOME = Path(os.environ.get("DEEPSTAR_TEST_HOME", "/work/main/.deepstar-test"))
MODEL_DIR = _HOME / "models" / "gemma-3-270m"

# what the server "generates" after the <tool_call> prefill, turn by turn
COMPLETIONS = [
    '{"name":"search","arguments":{"query":"Eiffel Tower"}}',
    "garbage that is no tool call",  # an invalid output: corrected, never taught
    f'{{"name":"open","arguments":{{"url":"{PAGE}"}}}}',
    f'{{"name":"answer","arguments":{{"answer":"1889","url":"{PAGE}"}}}}',  # the last allowed turn
]


@pytest.fixture(scope="module")
def tokenizer():
    if not (MODEL_DIR / "tokenizer.json").exists():
        pytest.fail(f"the prepared model's tokenizer is missing at {MODEL_DIR}: run `deepstar serve` once "
                    "(or set DEEPSTAR_TEST_HOME to a prepared home)")
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(MODEL_DIR)


async def test_every_served_prompt_is_the_prefix_training_builds(tokenizer):
    sent: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        sent.append(body)
        text = COMPLETIONS[len(sent) - 1]
        return httpx.Response(200, json={"id": "x", "model": "m", "choices": [
            {"index": 0, "text": text, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}})

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://fake/v1")
    client = ReasonerClient("http://fake/v1", protocol="deepstar", model="m", http_client=http)
    toolbox = FakeToolbox({PAGE: TEXT})
    cfg = PlannerConfig(mode="react", max_tool_calls_per_branch=2, seed=None)
    ctx = RunContext(client=client, toolbox=toolbox, config=cfg,
                     budget=Budget(cfg.max_steps, cfg.max_total_tokens, cfg.max_wall_clock_s))
    question = "When was the Eiffel Tower completed?"
    out = await run_tool_loop(ctx, branch="q0", question=question, subquestion=question, hint=None)
    await http.aclose()
    assert len(sent) == 4 and out["notes"][0]["answer"] == "1889"
    # the record's conversation and tools, exactly as training reads them
    messages = linearize({"question": question, "subquestions": [{"id": "q0"}], "transcripts": out["transcripts"]})
    tools = list(toolbox.schemas) + [ANSWER_TOOL]
    ids, labels = encode_conversation(tokenizer, messages, tools)
    assert sent[-1]["structured_outputs"]["json"]["properties"]["name"] == {"const": "answer"}  # answer forced

    for turn, body in enumerate(sent):
        served = tokenizer(body["prompt"], add_special_tokens=False)["input_ids"]
        assert ids[:len(served)] == served, f"turn {turn}: the served prompt is not what training builds"
        generated = tokenizer(COMPLETIONS[turn], add_special_tokens=False)["input_ids"]
        assert ids[len(served):len(served) + len(generated)] == generated, f"turn {turn}: the completion differs"
        taught = labels[len(served):len(served) + len(generated)]
        if turn == 1:  # the invalid output stays in the context but is not taught
            assert all(t == IGNORE_INDEX for t in taught)
        else:
            assert taught == generated


# --- plan mode: every model call of the graph --------------------------------------------------------
ANTWERP, BELGIUM = "http://site/wiki/Antwerp", "http://site/wiki/Belgium"
PLAN_COMPLETIONS = [  # in call order: the plan has a dependency, so the calls are sequential
    '{"subquestions":["Which country is Antwerp located in?","On which continent is {q0}?"]}',
    '{"name":"search","arguments":{"query":"Antwerp"}}',
    f'{{"name":"open","arguments":{{"url":"{ANTWERP}"}}}}',
    f'{{"name":"answer","arguments":{{"answer":"Belgium","url":"{ANTWERP}"}}}}',
    '{"name":"search","arguments":{"query":"Belgium"}}',
    f'{{"name":"open","arguments":{{"url":"{BELGIUM}"}}}}',
    f'{{"name":"answer","arguments":{{"answer":"Europe","url":"{BELGIUM}"}}}}',
    '{"answer":"Europe"}',
]


async def test_every_served_plan_mode_prompt_is_the_prefix_training_builds(tokenizer, tmp_path):
    from agent import AgentConfig, ResearchAgent
    from evals.trajectory import training_rows

    sent: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return httpx.Response(200, json={"id": "x", "model": "m", "choices": [
            {"index": 0, "text": PLAN_COMPLETIONS[len(sent) - 1], "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}})

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://fake/v1")
    client = ReasonerClient("http://fake/v1", protocol="deepstar", model="m", http_client=http)
    toolbox = FakeToolbox({ANTWERP: "Antwerp is a city in Belgium.", BELGIUM: "Belgium is a country in Europe."})
    agent = ResearchAgent(AgentConfig(home=tmp_path, mode="plan", max_reflect_rounds=0, seed=None),
                          client=client, toolbox=toolbox)
    result = await agent.research("On which continent is the country where Antwerp is located?")
    await http.aclose()
    record = result.record
    assert result.answer == "Europe" and len(sent) == len(PLAN_COMPLETIONS) == len(record["calls"])
    rows = training_rows(record)
    assert [r["node"] for r in rows] == ["plan", "research", "research", "write"]
    for turn, (body, c) in enumerate(zip(sent, record["calls"], strict=True)):
        row = next(r for r in rows if (r["node"], r["branch"]) == (c["node"], c["branch"]))
        ids, labels = encode_conversation(tokenizer, row["messages"], row["tools"] or None)
        served = tokenizer(body["prompt"], add_special_tokens=False)["input_ids"]
        assert ids[:len(served)] == served, f"call {turn} ({c['node']}/{c['branch']}): not the prefix training builds"
        generated = tokenizer(PLAN_COMPLETIONS[turn], add_special_tokens=False)["input_ids"]
        assert ids[len(served):len(served) + len(generated)] == generated, f"call {turn}: the completion differs"
        assert labels[len(served):len(served) + len(generated)] == generated, f"call {turn}: not taught"
