from __future__ import annotations

import pytest

from evals.judge import Judge, load_prompt, parse_verdict


@pytest.mark.parametrize(
    ("reply", "verdict"),
    [
        ("Verdict: yes", True),
        ("verdict - NO", False),
        ("<think>maybe no, maybe yes</think>\nVerdict: yes", True),
        ("Yes, the prediction is correct.", True),
        ("The answer is incorrect.", False),
        ("I cannot tell.", None),
        ("yes and no", None),
    ],
)
def test_parse_verdict(reply, verdict):
    assert parse_verdict(reply) is verdict


def test_prompt_is_package_data():
    prompt = load_prompt()
    assert "{question}" in prompt and "{prediction}" in prompt and "{gold}" in prompt


async def test_judge_caches_in_sqlite(tmp_path):
    calls = []

    async def chat(messages):
        calls.append(messages)
        return "Verdict: yes"

    judge = Judge(chat, tmp_path / "judge.sqlite")
    assert await judge("Who wrote 1984?", ["George Orwell"], "Eric Blair (Orwell)") is True
    assert await judge("Who wrote 1984?", ["George Orwell"], "Eric Blair (Orwell)") is True
    assert len(calls) == 1
    assert "Eric Blair (Orwell)" in calls[0][0]["content"]
    # a fresh Judge on the same file reuses the cache; a new prompt does not
    assert await Judge(chat, tmp_path / "judge.sqlite")("Who wrote 1984?", ["George Orwell"], "Eric Blair (Orwell)")
    assert len(calls) == 1
    await Judge(chat, tmp_path / "judge.sqlite", prompt="Other {question} {gold} {prediction}")(
        "Who wrote 1984?", ["George Orwell"], "Eric Blair (Orwell)"
    )
    assert len(calls) == 2


async def test_unparseable_reply_is_not_cached(tmp_path):
    replies = iter(["hmm", "Verdict: no"])

    async def chat(messages):
        return next(replies)

    judge = Judge(chat, tmp_path / "j.sqlite")
    assert await judge("q", ["a"], "b") is None
    assert await judge("q", ["a"], "b") is False
