from __future__ import annotations

import json
from collections import Counter

import pytest

from evals import synth
from evals.quality import problems


@pytest.fixture(scope="module")
def tasks(real_articles):
    return synth.synthesize(real_articles, seed=0)


def test_same_seed_same_bytes_other_seed_differs(real_articles, tmp_path):
    a = synth.write_tasks(synth.synthesize(real_articles, n=800, seed=11), tmp_path / "a.jsonl")
    b = synth.write_tasks(synth.synthesize(real_articles, n=800, seed=11), tmp_path / "b.jsonl")
    c = synth.write_tasks(synth.synthesize(real_articles, n=800, seed=12), tmp_path / "c.jsonl")
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()
    assert len(a.read_text(encoding="utf-8").splitlines()) == 800


def test_default_sizes(tasks):
    counts = Counter(t["split"] for t in tasks)
    assert counts["train"] >= 2000
    assert counts["dev"] >= 300
    assert {t["kind"] for t in tasks} == {"single", "bridge", "comparison"}


def test_splits_share_no_supporting_article(tasks, real_articles):
    from evals.details import corpus_facts

    articles = {a.title: a for a in real_articles}
    split_map = synth.assign_splits(articles, corpus_facts(articles.values()))
    titles = {split: set() for split in ("train", "dev", "test")}
    for t in tasks:
        assert {split_map[title] for title in t["supporting_titles"]} == {t["split"]}
        titles[t["split"]].update(t["supporting_titles"])
    assert not titles["train"] & titles["dev"]
    assert not titles["train"] & titles["test"]
    assert not titles["dev"] & titles["test"]


def test_enough_bridges_in_every_split(tasks):
    bridges = Counter(t["split"] for t in tasks if t["kind"] == "bridge")
    assert bridges["dev"] >= 40 and bridges["test"] >= 40 and bridges["train"] >= 200


def test_bridge_groups_share_a_split_lone_articles_hash(mini_corpus):
    from evals.details import corpus_facts

    articles = {a.title: a for a in mini_corpus}
    split_map = synth.assign_splits(articles, corpus_facts(articles.values()))
    assert split_map["Nineteen Eighty-Four"] == split_map["George Orwell"]
    assert split_map["Nairobi"] == split_map["Kenya"]
    assert split_map["Iron"] == synth.split_of("Iron")  # no bridge: its own hash
    assert split_map["George Orwell"] == synth.split_of("George Orwell", synth.GROUP_BUCKETS)  # group key: first title


def test_every_answer_is_in_its_evidence(tasks):
    for t in tasks:
        evidence = " ".join(f"{e['title']}: {e['text']}" for e in t["evidence"])
        assert t["answers"][0] in evidence, t


def test_every_task_passes_quality_and_has_fields(tasks):
    for t in tasks:
        assert not problems(t), (t, problems(t))
        assert t["id"].startswith(f"syn-{t['kind']}-")
        assert t["template"].startswith(t["relation"] + "/")
    assert len({t["id"] for t in tasks}) == len(tasks)


def test_bridge_questions_do_not_name_the_bridge_entity(tasks):
    bridges = [t for t in tasks if t["kind"] == "bridge"]
    assert bridges
    for t in bridges:
        assert t["bridge_title"].split(" (")[0].lower() not in t["question"].lower()
        assert len(t["supporting_titles"]) == 2


def test_comparison_answer_is_one_option(tasks):
    for t in (t for t in tasks if t["kind"] == "comparison"):
        assert t["answers"][0] in t["options"]
        assert t["values"][0] != t["values"][1]


def test_at_least_three_templates_per_relation():
    for relation, templates in synth.TEMPLATES.items():
        assert len(templates) >= 3, relation


def test_n_and_splits_parameters(real_articles):
    dev_only = synth.synthesize(real_articles, n=100, seed=1, splits=("dev",))
    assert len(dev_only) == 100 and {t["split"] for t in dev_only} == {"dev"}


def test_mini_corpus_bridge_and_report(mini_corpus):
    tasks = synth.synthesize(mini_corpus, seed=0, splits=("train", "dev", "test"))
    text = synth.report(tasks)
    assert f"{len(tasks)} tasks" in text and "by split" in text
    json.dumps(tasks)  # serializable
