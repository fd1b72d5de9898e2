"""Sentence questions (evals.echo): a sentence of an article's text asked back with one span
replaced; the gold answer is that span."""

from __future__ import annotations

from evals.corpus import Article
from evals.echo import echo_facts
from evals.synth import synthesize

BEOWULF = Article("Beowulf", "Beowulf is an Old English poem consisting of 3,182 alliterative lines. "
                  "Scholars call the anonymous author the Beowulf poet.", "Old English epic poem", "Arts")
LASER = Article("Laser", "A laser is a device that emits light. It was built in 1960 by Theodore Maiman at "
                "Hughes Research Laboratories. It is possibly the most useful device.", "Device that emits light",
                "Science")
DAM = Article("Hoover Dam", "Hoover Dam is a concrete dam on the Colorado River. The dam is 221 metres tall. "
              "The dam was originally known as Boulder Dam. The dam was completed in 1936.", "Dam in the United States",
              "Geography")


def by_title(facts):
    out = {}
    for f in facts:
        out.setdefault(f.title, []).append(f)
    return out


def test_a_count_is_asked_back_with_its_noun_and_the_number_is_the_answer():
    [fact] = by_title(echo_facts([BEOWULF]))["Beowulf"]
    assert fact.relation == "echo_count" and fact.answer_type == "number"
    assert fact.extra["question"] == "Beowulf is an Old English poem consisting of how many alliterative lines?"
    assert fact.value == "3,182" and fact.aliases == ("3182",)
    assert fact.evidence == (("extract", "Beowulf is an Old English poem consisting of 3,182 alliterative lines."),)


def test_a_pronoun_subject_becomes_the_article_and_one_sentence_gives_one_question():
    facts = echo_facts([LASER])
    assert [f.extra["question"] for f in facts] == ["Laser was built in 1960 by whom at Hughes Research Laboratories?"]
    assert facts[0].value == "Theodore Maiman" and facts[0].aliases == ("Maiman",)
    assert facts[0].relation == "echo_agent" and facts[0].answer_type == "person"  # the agent first: no year question
    # "It is possibly ..." hedges: no question from it


def test_measures_names_and_years_each_from_their_own_sentence():
    got = {f.relation: (f.extra["question"], f.value) for f in echo_facts([DAM])}
    assert got["echo_measure"] == ("The dam is how many metres tall?", "221 metres") or \
        got["echo_measure"][1] == "221 metres"
    assert got["echo_name"][1] == "Boulder Dam" and got["echo_name"][0].endswith("originally known as what?")
    assert got["echo_year"][1] == "1936" and "in what year" in got["echo_year"][0]
    for question, answer in got.values():
        assert answer not in question and question.startswith("Hoover Dam")


def test_synthesize_adds_sentence_questions_and_leaves_every_other_task_as_it_was():
    articles = [BEOWULF, LASER, DAM]
    plain = synthesize(articles, seed=0, echo=False)
    both = synthesize(articles, seed=0)
    echoes = [t for t in both if t["relation"].startswith("echo_")]
    assert [t for t in both if not t["relation"].startswith("echo_")] == plain
    assert echoes and all(t["kind"] == "single" and t["answers"][0] in t["evidence"][0]["text"] for t in echoes)
    assert {t["relation"] for t in echoes} >= {"echo_count", "echo_agent"}
    capped = synthesize(articles, seed=0, per_relation=1)
    assert all(sum(1 for t in capped if t["relation"] == r and t["split"] == s) <= 1
               for r in {t["relation"] for t in capped} for s in ("train", "dev", "test"))


def test_sentence_questions_share_the_single_hop_third_of_the_demonstrations():
    from agent.commands.star import _balanced

    rows = ([{"id": f"s{i}", "kind": "single", "relation": "birth_year"} for i in range(30)]
            + [{"id": f"e{i}", "kind": "single", "relation": "echo_count"} for i in range(30)]
            + [{"id": f"b{i}", "kind": "bridge", "relation": "x>y"} for i in range(30)])
    chosen = _balanced(rows, 30, seed=0)
    counts = {c: sum(1 for r in chosen if r["id"][0] == c) for c in "bes"}
    assert counts == {"b": 15, "e": 8, "s": 7} or counts == {"b": 15, "e": 7, "s": 8}
    assert len({r["id"] for r in chosen}) == 30
    # a kind that runs out leaves its share to the others; nothing is taken twice
    everything = _balanced(rows[:35], 100, seed=1)
    assert sorted(r["id"] for r in everything) == sorted(r["id"] for r in rows[:35])


def test_an_agent_is_a_whole_name_of_two_to_four_words():
    film = Article("Intolerance (film)", "Intolerance is a 1916 silent film directed by D. W. Griffith.", "1916 film", "Arts")
    [fact] = echo_facts([film])
    assert fact.value == "D. W. Griffith" and fact.extra["question"] == "Intolerance is a 1916 silent film directed by whom?"
    listed = Article("Lumen", "Lumen is a novel written by Anna Berg and Otto Lind.", "Novel", "Arts")
    assert echo_facts([listed]) == []  # "by A and B": several answers, no question


def test_a_name_another_article_holds_keeps_its_qualifier():
    state = Article("São Paulo (state)", "São Paulo is one of the 26 states of Brazil.", "State of Brazil", "Geography")
    city = Article("São Paulo", "São Paulo is a city.", "City", "Geography")
    [fact] = echo_facts([state, city])
    assert fact.extra["question"] == "São Paulo (state) is one of the how many states of Brazil?"
