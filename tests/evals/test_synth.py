from __future__ import annotations

import json
import re
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


DETAIL_SINGLES = {"event_year", "event_date", "event_agent", "count", "former_name", "named_after", "measure_length",
                  "measure_area"}


def test_detail_tasks_in_every_kind(tasks):
    relations = {t["relation"] for t in tasks}
    assert DETAIL_SINGLES <= relations
    assert any(">" in r and r.split(">")[1] in {"count", "measure_area"} for r in relations)  # second hop: a detail
    assert {"longer", "larger_area", "event_earlier"} <= relations
    types = {t["answer_type"] for t in tasks}
    assert {"year", "date", "number", "measure", "person", "place", "name"} <= types


def test_evidence_is_exact_article_text_with_types_and_titles(tasks, real_articles):
    from evals.details import ANSWER_TYPES

    articles = {a.title: a for a in real_articles}
    for t in tasks:
        assert t["answer_type"] in ANSWER_TYPES, t
        assert t["supporting_titles"] and {e["title"] for e in t["evidence"]} == set(t["supporting_titles"]), t
        for e in t["evidence"]:
            source = articles[e["title"]].description if e["field"] == "description" else articles[e["title"]].extract
            assert e["text"] in source, t


def test_composed_bridges_hide_b_and_ask_its_detail(tasks, real_articles):
    articles = {a.title: a for a in real_articles}
    composed = [t for t in tasks if t["kind"] == "bridge" and t["relation"].split(">")[1] in {"count", "measure_area"}]
    assert len(composed) >= 20
    for t in composed:
        a_title, b_title = t["supporting_titles"]
        assert b_title == t["bridge_title"] and b_title.split(" (")[0].lower() not in t["question"].lower()
        a = articles[a_title]
        assert not any(x.lower() in f"{a.extract} {a.description}".lower() for x in t["answers"]), t
        assert t["evidence"][-1]["title"] == b_title and t["answers"][0] in t["evidence"][-1]["text"]


def test_detail_comparisons_pick_the_winner_by_value(tasks):
    def metres(value: str) -> float:
        number, unit = value.split(" ", 1)
        return float(number.replace(",", "")) * {"km": 1e3, "kilometres": 1e3, "kilometers": 1e3, "miles": 1609.344,
                                                 "mi": 1609.344, "m": 1.0, "metres": 1.0, "km2": 1e6,
                                                 "square kilometres": 1e6, "square kilometers": 1e6}.get(unit, float("nan"))

    checked = 0
    for t in tasks:
        if t["relation"] in {"longer", "larger_area"}:
            a, b = (metres(v) for v in t["values"])
            if a == a and b == b:  # both units known to this test
                assert t["answers"][0] == t["options"][0 if a > b else 1], t
                checked += 1
        if t["relation"] == "event_earlier":
            years = [int(v[-4:]) for v in t["values"]]
            assert t["answers"][0] == t["options"][years.index(min(years))], t
            checked += 1
    assert checked >= 20


def test_beyond_lead_share_on_templates_details_and_human_style_tasks():
    from evals.corpus import Article

    articles = {
        "Elbe": Article("Elbe", "The Elbe is a major river in Central Europe. Its total length is 1,094\u00a0km.".replace(
            "\u00a0", " "), "Major river in Central Europe"),
        "Kenya": Article("Kenya", "Kenya is a country in East Africa. Its capital is Nairobi.", "Country in East Africa"),
    }
    tasks = [
        {"kind": "single", "answers": ["1,094 km"], "supporting_titles": ["Elbe"]},  # second sentence
        {"kind": "single", "answers": ["Central Europe"], "supporting_titles": ["Elbe"]},  # description
        {"kind": "single", "answers": ["East Africa"], "supporting_titles": ["Kenya"]},  # first sentence
        # a comparison: where are the compared values? human files give evidence as plain strings (with no-break spaces)
        {"kind": "comparison", "answers": ["Elbe"], "supporting_titles": ["Elbe", "Kenya"],
         "evidence": ["Its total length is 1,094\u00a0km.", "Its capital is Nairobi."]},
        {"kind": "comparison", "answers": ["Kenya"], "supporting_titles": ["Elbe", "Kenya"],
         "evidence": [{"title": "Kenya", "field": "description", "text": "Country in East Africa"}]},
    ]
    assert synth.beyond_lead_share(tasks, articles) == {"all": 0.4, "comparison": 0.5, "single": 0.333}


def test_report_counts_relations_answer_types_and_lead_share(tasks, real_articles):
    text = synth.report(tasks, articles={a.title: a for a in real_articles})
    for line in ("by relation: ", "by kind/answer type: ", "by split/answer type: ",
                 "answer beyond the description and first sentence: all="):
        assert line in text
    share = synth.beyond_lead_share([t for t in tasks if t["relation"] in DETAIL_SINGLES],
                                    {a.title: a for a in real_articles})
    assert share["all"] >= 0.7  # the in-text details are, mostly, past the lead


def test_per_relation_caps_each_relation_in_each_split(real_articles, tasks):
    capped = synth.synthesize(real_articles, seed=0, per_relation=15)
    counts = Counter((t["split"], t["relation"]) for t in capped)
    assert max(counts.values()) == 15
    full = Counter((t["split"], t["relation"]) for t in tasks)
    assert all(counts[key] == min(15, n) for key, n in full.items())  # small relations are kept whole
    assert capped == synth.synthesize(real_articles, seed=0, per_relation=15)  # deterministic
    share = synth.beyond_lead_share(capped, {a.title: a for a in real_articles})
    assert share["all"] > synth.beyond_lead_share(tasks, {a.title: a for a in real_articles})["all"]


def test_names_keep_the_article_the_text_gives_them(tasks):
    volga = [t for t in tasks if t["supporting_titles"] == ["Volga"] and t["kind"] == "single"]
    assert volga and all("the Volga" in t["question"] or t["question"].startswith("The Volga") for t in volga)


def test_a_name_shared_with_another_article_keeps_its_qualifier(tasks):
    state = [t for t in tasks if t["supporting_titles"] == ["São Paulo (state)"] and t["kind"] == "single"]
    assert state  # "São Paulo" is the city's article: the state is never called just "São Paulo"
    assert all(re.search(r"São Paulo \((?:state|[^)]*Brazil)", t["question"]) for t in state), state
