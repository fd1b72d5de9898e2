from __future__ import annotations

import pytest

from evals.corpus import Article, load_articles


@pytest.fixture(scope="session")
def real_articles() -> list[Article]:
    return load_articles()


@pytest.fixture
def mini_corpus() -> list[Article]:
    """A hand-written corpus covering every fact pattern."""
    return [
        Article("Bertolt Brecht", "Bertolt Brecht was a German playwright. He wrote plays.", "German playwright and poet (1898–1956)"),
        Article("H. G. Wells", "Herbert George Wells was an English writer. He wrote novels.", "English writer (1866–1946)"),
        Article("George Orwell", "Eric Arthur Blair was an English novelist. He wrote Nineteen Eighty-Four.", "English novelist and journalist (1903–1950)"),
        Article("Nineteen Eighty-Four", "Nineteen Eighty-Four is a dystopian novel by an English writer.", "1949 dystopian novel by George Orwell"),
        Article("Kenya", "Kenya is a country in East Africa with a coastline.", "Country in East Africa"),
        Article("Nairobi", "Nairobi is the capital and largest city of Kenya.", "Capital and largest city of Kenya"),
        Article("Iron", "Iron is a chemical element; it has symbol Fe and atomic number 26.", "Chemical element with atomic number 26 (Fe)"),
        Article("Gold", "Gold is a chemical element; it has symbol Au and atomic number 79.", "Chemical element with atomic number 79 (Au)"),
        Article("Thirty Years' War", "The Thirty Years' War was a war fought in Europe.", "Major war in Central Europe (1618–1648)"),
        Article("Le Monde", "Le Monde is a French newspaper founded in 1944 by Hubert Beuve-Méry.", "French daily newspaper"),
    ]


@pytest.fixture(scope="session")
def demo_tasks(real_articles) -> list[dict]:
    """A few dev tasks of each kind (deterministic)."""
    import random

    from evals.synth import synthesize

    tasks = synthesize(real_articles, seed=0, splits=("dev",))
    rng = random.Random(0)
    return [t for kind in ("single", "bridge", "comparison")
            for t in rng.sample([t for t in tasks if t["kind"] == kind], 4)]


@pytest.fixture(scope="session")
def wiki_demos(demo_tasks, tmp_path_factory) -> tuple[list[dict], list[dict]]:
    """Demonstrations of `demo_tasks` built against the REAL local wiki site (`open_web`
    with a fresh workspace: the search index is built there). (records, toolbox schemas)"""
    import asyncio

    from agent.config import AgentConfig
    from agent.web import open_web
    from evals.demos import build_demo
    from planner.prompts import ANSWER_TOOL, REACT_SYSTEM, react_user

    cfg = AgentConfig(home=tmp_path_factory.mktemp("demo-home"), web="wiki")

    async def build() -> tuple[list[dict], list[dict]]:
        async with open_web(cfg) as box:
            records = [await build_demo(t, box, system=REACT_SYSTEM, answer_tool=ANSWER_TOOL, user_text=react_user)
                       for t in demo_tasks]
            return records, box.schemas

    return asyncio.run(build())
