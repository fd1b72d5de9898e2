"""The gate the process-fault scenarios put in front of the model server: it lets the first
N generation requests through, holds the rest until opened, and passes everything else, so
that "the runs overlapped" and "the run was still going when signalled" hold by
construction. Here against the scripted OpenAI server over real loopback HTTP."""

from __future__ import annotations

import threading
import time

import httpx

from agent.faults.process import _Gate
from tests.fakes.openai_server import FakeOpenAI

PLAN = {"model": "fake-instruct", "messages": [{"role": "user", "content": "q"}],
        "structured_outputs": {"json": {"properties": {"subquestions": {}}}}}


def _post(url: str, out: list) -> None:
    out.append(httpx.post(f"{url}/v1/chat/completions", json=PLAN, timeout=30))


def test_the_first_requests_pass_and_later_ones_wait_for_open():
    with FakeOpenAI(plan=["a"]) as fake, _Gate(fake.url, passes=1) as gate:
        first: list = []
        _post(gate.url, first)
        assert first[0].status_code == 200 and first[0].json()["choices"]
        assert len(fake.requests) == 1 and gate.held == 0

        held: list = []
        threads = [threading.Thread(target=_post, args=(gate.url, held)) for _ in range(2)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30
        while gate.held < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # time a pass-through request would need to be answered
        # both wait, not answered and not even forwarded: the model server has not seen them
        assert gate.held == 2 and held == [] and len(fake.requests) == 1
        # other requests are not held
        assert httpx.get(f"{gate.url}/v1/models", timeout=10).json()["data"][0]["id"] == "fake-instruct"

        gate.open()
        for t in threads:
            t.join(timeout=10)
        assert [r.status_code for r in held] == [200, 200] and len(fake.requests) == 3
        # once open, nothing waits
        _post(gate.url, held)
        assert held[-1].status_code == 200 and gate.held == 2


def test_an_upstream_without_v1_gets_the_path_as_sent():
    with FakeOpenAI() as fake, _Gate(fake.url.removesuffix("/v1")) as gate:
        gate.open()
        reply = httpx.get(f"{gate.url}/v1/models", timeout=10)
        assert reply.status_code == 200 and reply.json()["data"][0]["id"] == "fake-instruct"
