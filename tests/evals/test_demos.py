from __future__ import annotations

import json

import pytest

from evals.demos import build_demo, build_demos, compact_json, quote_window
from planner.prompts import REACT_SYSTEM, react_user
from tools.evidence import QUOTE_MAX_CHARS
from tools.page import Page
from tools.toolbox import ToolOutcome

SYSTEM, ANSWER = "system prompt", {"type": "function", "function": {"name": "answer", "parameters": {}}}


def _user(question: str) -> str:
    return f"Question: {question}"


def _squash(text: str) -> str:
    return " ".join(text.casefold().split())


@pytest.mark.integration
def test_demos_against_the_real_wiki_are_evidence_backed(wiki_demos, demo_tasks):
    records, schemas = wiki_demos
    assert {t["kind"] for t in demo_tasks} == {"single", "bridge", "comparison"}
    assert sum(r["success"] for r in records) >= len(records) - 1
    for record, task in zip(records, demo_tasks, strict=True):
        if not record["success"]:
            assert record["filter_reason"]
            continue
        messages = record["messages"]
        assert messages[:2] == [{"role": "system", "content": REACT_SYSTEM},
                                {"role": "user", "content": react_user(task["question"])}]
        assert record["tools"][:-1] == schemas and record["tools"][-1]["function"]["name"] == "answer"
        # ids line up: call_0, call_1, ... each assistant call answered by the next tool message
        calls = [m for m in messages if m["role"] == "assistant"]
        assert [m["tool_calls"][0]["id"] for m in calls] == [f"call_{k}" for k in range(len(calls))]
        for i, m in enumerate(messages[2:-1], 2):
            if m["role"] == "assistant":
                assert messages[i + 1] == {"role": "tool", "tool_call_id": m["tool_calls"][0]["id"],
                                           "content": messages[i + 1]["content"]}
        for m in calls:
            fn = m["tool_calls"][0]["function"]
            assert isinstance(fn["arguments"], str) and compact_json(json.loads(fn["arguments"])) == fn["arguments"]
        names = [m["tool_calls"][0]["function"]["name"] for m in calls]
        assert names[0] == "search" and names[-1] == "answer" and messages[-1]["role"] == "assistant"
        first_query = json.loads(calls[0]["tool_calls"][0]["function"]["arguments"])["query"]
        if task["kind"] != "comparison":
            assert not any(_squash(a) in _squash(first_query) for a in task["answers"])  # never search the answer
        if task["kind"] == "bridge":
            assert names.count("open") == 2 and "find" in names
        # observations are real: each supporting article's evidence sentence is on a fetched page
        pages = " ".join(_squash(text) for text in record["snapshots"].values())
        for evidence in task["evidence"]:
            assert _squash(evidence["text"]) in pages, evidence
        answer = json.loads(calls[-1]["tool_calls"][0]["function"]["arguments"])
        assert answer["answer"] == task["answers"][0] == record["final_answer"]
        # evidence first, in the answer tool's order: the page, its sentence (copied), the answer
        assert list(answer) == ["url", "quote", "answer"]
        assert _squash(answer["quote"]) in _squash(record["snapshots"][answer["url"]])
        if task["kind"] != "comparison":  # a comparison quotes the winner's value, under its page's heading
            assert _squash(answer["answer"]) in _squash(answer["quote"])
        cited = record["snapshots"][answer["url"]]
        assert _squash(task["answers"][0]) in _squash(cited)
        assert _squash(record["citations"][0]["snippet"]) in _squash(cited)
        assert record["reward"]["em"] == 1.0 and record["reward"]["citation_support"] == 1.0
        opened = [json.loads(m["tool_calls"][0]["function"]["arguments"])["url"] for m in calls
                  if m["tool_calls"][0]["function"]["name"] == "open"]
        assert set(record["snapshots"]) <= set(opened)
        assert record["id"] == f"demo-{task['id']}" and record["source"] == "demonstration"
        assert record["usage"]["tool_calls"] == len(calls) and record["plan"][0]["status"] == "done"


class FakeBox:
    """A toolbox whose one page does not state the answer."""

    schemas = [{"type": "function", "function": {"name": "search", "parameters": {}}}]

    def __init__(self, page_text: str) -> None:
        self.page_text = page_text
        self.focus: list[str | None] = []

    async def call(self, name, arguments, *, focus=None):
        self.focus.append(focus)
        if name == "search":
            return ToolOutcome(True, "[1] Henry Purcell\n    http://wiki.test/wiki/Henry_Purcell\n    snippet")
        page = Page(arguments["url"], arguments["url"], 200, "text/html", "Henry Purcell", self.page_text)
        return ToolOutcome(True, f"Title: Henry Purcell\n{self.page_text}", url=page.final_url, page=page)


TASK = {"id": "syn-single-x", "question": "In what year did Henry Purcell die?", "answers": ["1695"],
        "kind": "single", "supporting_titles": ["Henry Purcell"], "split": "train",
        "evidence": [{"title": "Henry Purcell", "field": "description", "text": "English composer (1659–1695)"}]}


async def test_demo_is_dropped_when_the_page_does_not_state_the_answer():
    kept, dropped = await build_demos([TASK], FakeBox("# Henry Purcell\nAn English composer."),
                                      system=SYSTEM, answer_tool=ANSWER, user_text=_user)
    assert kept == [] and sum(dropped.values()) == 1


async def test_fake_demo_structure_and_search_miss_opens_by_site_url():
    box = FakeBox("# Henry Purcell\nEnglish composer (1659–1695)\nHenry Purcell was an English composer.")
    record = await build_demo({**TASK, "supporting_titles": ["Henry Purcell"], "question": TASK["question"]},
                              box, system=SYSTEM, answer_tool=ANSWER, user_text=_user)
    assert record["success"], record["filter_reason"]
    # the first search is the question as asked (default demo_query='question')
    assert json.loads(record["messages"][2]["tool_calls"][0]["function"]["arguments"]) == {"query": TASK["question"]}
    assert record["citations"][0]["snippet"] == "English composer (1659–1695)"
    assert record["demo"]["opened_by_url"] == []
    assert box.focus == [TASK["question"]] * 2  # the tools get the question, as the research graph gives it
    unfocused = FakeBox(box.page_text)
    await build_demo(TASK, unfocused, system=SYSTEM, answer_tool=ANSWER, user_text=_user, focus_reading=False)
    assert unfocused.focus == [None, None]

    class Missing(FakeBox):
        async def call(self, name, arguments, *, focus=None):
            if name == "search":
                return ToolOutcome(True, "No results for 'Henry Purcell'.")
            return await super().call(name, arguments, focus=focus)

    record = await build_demo(TASK, Missing(box.page_text), system=SYSTEM, answer_tool=ANSWER,
                              user_text=_user, site_url="http://wiki.test")
    assert record["success"] and record["demo"]["opened_by_url"] == ["Henry Purcell"]
    searched = [json.loads(m["tool_calls"][0]["function"]["arguments"]) for m in record["messages"]
                if m["role"] == "assistant"]
    assert searched[:3] == [{"query": TASK["question"]}, {"query": "Henry Purcell"},
                            {"url": "http://wiki.test/wiki/Henry_Purcell"}]

    class OnlyByName(FakeBox):  # the question misses, the name finds it: search again, open from the results
        async def call(self, name, arguments, *, focus=None):
            if name == "search" and arguments["query"] != "Henry Purcell":
                return ToolOutcome(True, "[1] Purcell (crater)\n    http://wiki.test/wiki/Purcell_(crater)\n    x")
            return await super().call(name, arguments, focus=focus)

    record = await build_demo(TASK, OnlyByName(box.page_text), system=SYSTEM, answer_tool=ANSWER, user_text=_user)
    calls = [m["tool_calls"][0]["function"] for m in record["messages"] if m["role"] == "assistant"]
    assert record["success"] and record["demo"]["opened_by_url"] == []
    assert [(c["name"], json.loads(c["arguments"])) for c in calls[:3]] == [
        ("search", {"query": TASK["question"]}), ("search", {"query": "Henry Purcell"}),
        ("open", {"url": "http://wiki.test/wiki/Henry_Purcell"})]
    # demo_query='entity' searches the name first, as the runs before it did
    record = await build_demo(TASK, FakeBox(box.page_text), system=SYSTEM, answer_tool=ANSWER, user_text=_user,
                              demo_query="entity")
    assert record["messages"][2]["tool_calls"][0]["function"]["arguments"] == '{"query":"Henry Purcell"}'
    with pytest.raises(ValueError, match="demo_query"):
        await build_demo(TASK, box, system=SYSTEM, answer_tool=ANSWER, user_text=_user, demo_query="title")


def test_quote_window_keeps_a_short_sentence_and_cuts_a_long_one_around_the_answer():
    assert quote_window("English composer (1659–1695)", "1695") == "English composer (1659–1695)"
    long = ("The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris, France, named "
            "after the engineer Gustave Eiffel, whose company designed and built the tower from 1887 to 1889 "
            "as the centerpiece of the 1889 World's Fair, and it was criticised by some artists at first.")
    window = quote_window(long, "1889")
    assert window is not None and len(window) <= QUOTE_MAX_CHARS < len(long)
    assert "1889" in window and window in long  # whole words of the sentence, never cut mid-word
    assert window.split(" ")[0] in long.split(" ") and window.split(" ")[-1] in long.split(" ")
    assert quote_window(long, "1901") is None


def test_the_answer_tool_is_written_evidence_first():
    from planner.prompts import ANSWER_TOOL
    from reasoner.protocol import tool_call_schema

    params = ANSWER_TOOL["function"]["parameters"]
    assert list(params["properties"]) == ["url", "quote", "answer"]
    assert params["properties"]["quote"]["maxLength"] == QUOTE_MAX_CHARS
    # the decoding grammar keeps the order and the bound
    served = tool_call_schema([ANSWER_TOOL])["properties"]["arguments"]
    assert list(served["properties"]) == ["url", "quote", "answer"]
    assert served["properties"]["quote"]["maxLength"] == QUOTE_MAX_CHARS


def test_hop_keyword_is_a_question_word_of_the_sentence_naming_the_second_entity():
    from evals.demos import hop_keyword

    page = ("# The Nutcracker\nThe Nutcracker is an 1892 two-act ballet by Pyotr Ilyich Tchaikovsky. "
            "It premiered in Saint Petersburg.")
    question = "In what year was the composer of the ballet The Nutcracker born?"
    assert hop_keyword(question, page, "The Nutcracker", "Pyotr Ilyich Tchaikovsky") == "ballet"
    # no question word in the naming sentence (the entity's own name never counts): None, find the name
    assert hop_keyword("When was The Nutcracker's author born?", page, "The Nutcracker",
                       "Pyotr Ilyich Tchaikovsky") is None


@pytest.mark.integration
async def test_a_keyword_hop_shows_the_second_name_before_it_is_searched(demo_tasks, tmp_path):
    """demo_hop='keyword' against the real wiki: each bridge's find on the first page looks for a word
    of the question (or the name when none fits), and the name the demo searches next is in that
    find result, so it is copied, never written from memory."""
    from agent.config import AgentConfig
    from agent.web import open_web
    from planner.prompts import ANSWER_TOOL

    bridges = [t for t in demo_tasks if t["kind"] == "bridge"]
    async with open_web(AgentConfig(home=tmp_path / "home", web="wiki")) as box:
        records = [await build_demo(t, box, system=REACT_SYSTEM, answer_tool=ANSWER_TOOL, user_text=react_user,
                                    demo_hop="keyword") for t in bridges]
        with pytest.raises(ValueError, match="demo_hop"):
            await build_demo(bridges[0], box, system=SYSTEM, answer_tool=ANSWER, user_text=_user, demo_hop="guess")
    kept = [r for r in records if r["success"]]
    assert kept, [r["filter_reason"] for r in records]
    by_keyword = 0
    for record in kept:
        msgs = record["messages"]
        i = next(i for i, m in enumerate(msgs) if m["role"] == "assistant"
                 and m["tool_calls"][0]["function"]["name"] == "find")
        pattern = json.loads(msgs[i]["tool_calls"][0]["function"]["arguments"])["pattern"]
        found = msgs[i + 1]["content"]
        second = next(json.loads(m["tool_calls"][0]["function"]["arguments"])["query"] for m in msgs[i + 2:]
                      if m["role"] == "assistant" and m["tool_calls"][0]["function"]["name"] == "search")
        assert _squash(second) in _squash(found), (pattern, second)
        by_keyword += _squash(pattern) in _squash(record["question"]) and _squash(pattern) != _squash(second)
    assert by_keyword >= 1
