"""Typed answers: a question that asks for a date, a number or a measure gets an answer of that
shape, held there by the decoding grammar (tools/answer_types.py, planner.prompts.answer_tool)."""

from __future__ import annotations

import json

import pytest

from planner.prompts import ANSWER_TOOL, REACT_SYSTEM, answer_tool
from reasoner.protocol import render_prompt, tool_call_schema, validate_arguments
from tools.answer_types import (
    SPAN_MAX_WORDS,
    answer_pattern,
    answer_spans,
    date_ranges,
    expected_type,
    matches_type,
    question_options,
    question_subject,
    range_role,
    selects_spans,
)
from tools.evidence import QUOTE_MAX_CHARS, quote_windows
from tools.toolbox import Toolbox


def test_the_question_form_decides_the_type():
    assert expected_type("In what year was Francis Crick born?") == "date"
    assert expected_type("When was the Treaty of Tordesillas signed?") == "date"
    assert expected_type("How many nocturnes did Chopin write?") == "number"
    assert expected_type("How tall is Mont Blanc?") == "measure"
    # a year named as a noun: "birth year", "the year of his death", "which decade"
    for q, role in (("What is the birth year of Francis Crick?", "start"),
                    ("What is the death year of the composer of the ballet Swan Lake?", "end"),
                    ("What was the year of his death?", "end"), ("What is the date of birth of Mikhail Lermontov?", "start"),
                    ("Which decade did the war start in?", "start")):
        assert expected_type(q) == "date", q
        assert range_role(q) == role, q
    assert expected_type("Who was born in the year of the death of Mozart?") == "name"
    # "Name the author of X": a name; "What is the number of states in X?": a number
    assert expected_type("Name the author of the book Leviathan.") == "name"
    assert expected_type("What is the number of states in the country whose capital is Caracas?") == "number"
    # kept untyped (typed, their spans lost on dev: README, STaR section)
    for q in ("On which continent is the country whose capital is Caracas?", "Cerium has which atomic number?"):
        assert expected_type(q) is None, q
    # a who / where / which-institution / by-what-name question wants a name, never a bare number
    for q in ("Who discovered osmium?", "From his home in which town did James Dunlop discover Centaurus A?",
              "By what name was the Sistine Chapel originally known?", "What prize was the plane built for?",
              "At which institution did Karl Pearson found the department?", "Psycho was directed by whom?",
              "Where was Hadrian born?"):
        assert expected_type(q) == "name", q
    for q in ("What was that city's official population in 2012?", "What is the capital of Peru?",
              "According to its preface, what does the Kojiki say?"):
        assert expected_type(q) is None, q
    assert answer_pattern("What is the capital of Peru?") is None


@pytest.mark.parametrize(("question", "good", "bad"), [
    ("In what year was Francis Crick born?", ["1916", "3 May 1947", "May 3, 1947", "478 BC", "1960s", "5th century BC"],
     ["Francis Crick", "British", "the year 1916 or so"]),
    ("How many alliterative lines make up Beowulf?", ["3,182", "29 times", "21", "19 months"], ["Beowulf", "many"]),
    ("How tall is Puncak Jaya?", ["4,884 m", "about 5.6°", "603,628 km2", "77.1 million years"], ["Puncak Jaya"]),
])
def test_answers_of_the_asked_shape_match_and_names_do_not(question, good, bad):
    assert all(matches_type(question, a) for a in good), good
    assert not any(matches_type(question, a) for a in bad), bad
    assert matches_type("Who built the first laser?", "Theodore Maiman")
    assert matches_type("Who composed the Kojiki?", "Ō no Yasumaro")
    assert not matches_type("Who discovered osmium?", "1803") and not matches_type("Who built it?", "11,700 years")
    assert matches_type("What is the capital of Peru?", "1803")  # no shape asked: anything


def test_the_typed_tool_renders_the_same_prompt_and_bounds_the_answer():
    web = [cls.schema() for cls in Toolbox.tool_classes]
    typed = answer_tool("In what year was Francis Crick born?")
    assert answer_tool("What is the capital of Peru?") is ANSWER_TOOL and answer_tool(None) is ANSWER_TOOL
    assert "pattern" not in ANSWER_TOOL["function"]["parameters"]["properties"]["answer"]  # not mutated
    system = [{"role": "system", "content": REACT_SYSTEM}]
    # the prompt renders no schema: typed or not, the model sees (and training renders) the same text
    assert render_prompt(system, web + [typed]) == render_prompt(system, web + [ANSWER_TOOL])
    params = typed["function"]["parameters"]
    assert validate_arguments({"url": "u", "answer": "1916"}, params) is None
    assert "form" in validate_arguments({"url": "u", "answer": "Francis Crick"}, params)
    served = tool_call_schema(web + [typed])["anyOf"][-1]["properties"]["arguments"]["properties"]["answer"]
    assert served["pattern"] == params["properties"]["answer"]["pattern"] and "maxLength" not in served


def test_the_decoding_grammar_holds_the_answer_to_the_shape():
    import xgrammar  # vLLM's grammar backend: the cpu extra installs it, so its absence fails, never skips
    from xgrammar.testing import _is_grammar_accept_string

    web = [cls.schema() for cls in Toolbox.tool_classes]
    schema = tool_call_schema(web + [answer_tool("In what year was Francis Crick born?")])
    grammar = xgrammar.Grammar.from_json_schema(json.dumps(schema), any_whitespace=False, separators=(",", ":"))

    def call(answer: str) -> str:
        return json.dumps({"name": "answer", "arguments": {"url": "http://wiki.deepstar/wiki/Francis_Crick",
                                                           "quote": "British molecular biologist (1916–2004)",
                                                           "answer": answer}}, separators=(",", ":"), ensure_ascii=False)

    assert _is_grammar_accept_string(grammar, call("1916"))
    assert not _is_grammar_accept_string(grammar, call("Francis Crick"))
    schema = tool_call_schema(web + [answer_tool("Who discovered osmium?")])
    grammar = xgrammar.Grammar.from_json_schema(json.dumps(schema), any_whitespace=False, separators=(",", ":"))
    assert _is_grammar_accept_string(grammar, call("Smithson Tennant"))
    assert _is_grammar_accept_string(grammar, call("Ō no Yasumaro"))
    assert not _is_grammar_accept_string(grammar, call("1803"))


@pytest.mark.parametrize(("question", "expected"), [
    ("Which river is longer, the Loire or the Vistula?", {"the Loire", "Loire", "the Vistula", "Vistula"}),
    ("Which was finished first, London's Tower Bridge or Germany's Kiel Canal?",
     {"London's Tower Bridge", "Tower Bridge", "Germany's Kiel Canal", "Kiel Canal"}),
    ("Whose spaceflight lasted longer, Yuri Gagarin's on Vostok 1 or Valentina Tereshkova's on Vostok 6?",
     {"Yuri Gagarin's on Vostok 1", "Yuri Gagarin", "Valentina Tereshkova's on Vostok 6", "Valentina Tereshkova"}),
    ("Which city was founded first, Cali in Colombia or Recife in Brazil?",
     {"Cali in Colombia", "Cali", "Recife in Brazil", "Recife"}),
    ("Edgar Allan Poe or Jackie Robinson: whose birth came first?", {"Edgar Allan Poe", "Jackie Robinson"}),
    ("Of Ukraine and Guinea, which has more inhabitants?", {"Ukraine", "Guinea"}),
    ("Which of Robert the Bruce and Paul von Hindenburg began their tenure in office earlier?",
     {"Robert the Bruce", "Paul von Hindenburg"}),
    ("Of Wales and Antigua and Barbuda, which is larger by area?",  # every split: the real name stays
     {"Wales", "Antigua and Barbuda", "Wales and Antigua", "Antigua", "Barbuda"}),
    ("Which has the larger population, Punjab, Pakistan or Yunnan?", {"Pakistan", "Punjab, Pakistan", "Yunnan"}),
    ("Who built the first laser, in 1960?", set()),
    ("In what year was Francis Crick born?", set()),
])
def test_a_comparison_offers_its_candidates(question, expected):
    assert set(question_options(question)) == expected


def test_a_comparison_answer_is_one_of_its_candidates_in_the_grammar_too():
    import xgrammar
    from xgrammar.testing import _is_grammar_accept_string

    question = "Which was finished first, London's Tower Bridge or Germany's Kiel Canal?"
    assert matches_type(question, "Tower Bridge") and matches_type(question, "tower bridge")
    assert not matches_type(question, "England")
    schema = tool_call_schema([cls.schema() for cls in Toolbox.tool_classes] + [answer_tool(question)])
    grammar = xgrammar.Grammar.from_json_schema(json.dumps(schema), any_whitespace=False, separators=(",", ":"))

    def call(answer: str) -> str:
        return json.dumps({"name": "answer", "arguments": {"url": "http://wiki.deepstar/wiki/Tower_Bridge",
                                                           "answer": answer}}, separators=(",", ":"), ensure_ascii=False)

    assert _is_grammar_accept_string(grammar, call("Tower Bridge"))
    assert _is_grammar_accept_string(grammar, call("Germany's Kiel Canal"))
    assert not _is_grammar_accept_string(grammar, call("England"))
    accented = answer_tool("Who was born first, Kenzaburō Ōe or Eleanor Roosevelt?")
    grammar = xgrammar.Grammar.from_json_schema(json.dumps(tool_call_schema([accented])), any_whitespace=False,
                                                separators=(",", ":"))
    assert _is_grammar_accept_string(grammar, json.dumps({"name": "answer", "arguments": {
        "url": "u", "answer": "Kenzaburō Ōe"}}, separators=(",", ":"), ensure_ascii=False))


@pytest.mark.parametrize(("question", "quote", "spans"), [
    # a who-question: names of the sentence, not the question's own words
    ("Who discovered the element osmium, naming it after the smell of its volatile oxide?",
     "It was discovered in 1803 by Smithson Tennant, who named it for the characteristic smell of its volatile oxide.",
     ["Smithson", "Smithson Tennant", "Tennant"]),
    # a how-many question: numbers only
    ("How many alliterative lines make up the Old English epic poem Beowulf?",
     "Beowulf is an Old English epic poem consisting of 3,182 alliterative lines.",
     ["3,182", "3,182 alliterative", "3,182 alliterative lines"]),
    # names run no further than their capitalized words; a clause break ends a span
    ("Through which railway tunnel is that island connected to Honshu?",
     "Hokkaido is connected to Honshu by the Seikan Tunnel, the longest railway tunnel.",
     ["Hokkaido", "Seikan", "Seikan Tunnel"]),
    # a comparison: one of its candidates
    ("Which was finished first, London's Tower Bridge or Germany's Kiel Canal?",
     "Tower Bridge is a bridge in London, built between 1886 and 1894.", ["Tower Bridge"]),
    # a sentence with nothing of the asked-for shape offers nothing
    ("In what year was the Eiffel Tower completed?", "It is named after Gustave Eiffel.", []),
])
def test_answer_spans_are_the_quotes_short_answers_of_the_asked_for_shape(question, quote, spans):
    assert answer_spans(question, quote) == spans


def test_answer_spans_of_an_untyped_question_leave_out_function_word_edges_and_the_question():
    spans = answer_spans("What did the Roosevelt administration call the dam?",
                         "The Roosevelt administration called it Boulder Dam.")
    assert "Boulder Dam" in spans and "it Boulder" not in spans and "Roosevelt administration" not in spans
    assert all(len(s.split()) <= SPAN_MAX_WORDS for s in spans)


def test_quote_windows_cover_a_long_sentence_without_cutting_words():
    sentence = " ".join(f"word{i}" for i in range(80))
    windows = quote_windows(sentence)
    assert len(windows) > 2 and all(len(w) <= QUOTE_MAX_CHARS for w in windows)
    assert all(w in sentence for w in windows) and windows[-1].endswith("word79")
    # every run of a few words lies inside one window
    words = sentence.split()
    assert all(any(" ".join(words[i:i + 6]) in w for w in windows) for i in range(len(words) - 6))
    assert quote_windows("A short sentence.") == ["A short sentence."]


@pytest.mark.parametrize(("question", "selected"), [
    ("Who discovered osmium?", True), ("How many nocturnes did Chopin write?", True), ("How tall is Mont Blanc?", True),
    ("Which was finished first, Tower Bridge or the Kiel Canal?", True),
    ("In what year was the Eiffel Tower completed?", True), ("Francis Crick was born in which year?", True),
    ("Which continent is Oran in?", False), ("What is the Eiffel Tower made of?", False),
])
def test_spans_are_selected_for_names_quantities_dates_and_comparisons(question, selected):
    assert selects_spans(question) is selected


@pytest.mark.parametrize(("question", "role"), [
    ("Ernest Rutherford died in which year?", "end"), ("In what year was the Eiffel Tower completed?", "end"),
    ("In which year did the death of Vitus Bering occur?", "end"), ("What year did Sheikh Mujibur Rahman pass away?", "end"),
    ("In what year was Albert Einstein born?", "start"), ("Which year saw the birth of Setsuko Hara?", "start"),
    ("The Pre-Raphaelite Brotherhood was founded or established in which year?", "start"),
    ("When was Tower Bridge built?", None), ("In what year did the novel Lolita appear?", None),
])
def test_range_role_reads_whether_a_date_question_asks_for_a_periods_end_or_start(question, role):
    assert range_role(question) == role


def test_date_ranges_read_the_periods_a_sentence_states():
    assert date_ranges("New Zealand physicist (1871–1937)") == [("1871", "1937")]
    assert date_ranges("designed and built the tower from 1887 to 1889.") == [("1887", "1889")]
    assert date_ranges("a French mathematician (21 August 1789 – 23 May 1857).") == [("1789", "1857")]
    assert date_ranges("Greek philosopher (c. 470 – 399 BC)") == [("470 BC", "399 BC")]
    assert date_ranges("between 1914 and 1918") == [("1914", "1918")]
    # not a period: years that run backward, too far apart, or a count
    assert date_ranges("from 1950 to 1850") == [] and date_ranges("1066 and 1914") == []
    assert date_ranges("between 3,000 and 5,000 people") == []


@pytest.mark.parametrize(("question", "quote", "spans"), [
    # the year of the question's role, even glued inside a range; never the other end
    ("Ernest Rutherford died in which year?", "New Zealand physicist (1871–1937)", ["1937"]),
    ("In what year was Albert Einstein born?", "German-born physicist (1879–1955)", ["1879"]),
    ("In what year was the Eiffel Tower completed?",
     "It is named after the engineer Gustave Eiffel, whose company designed and built the tower from 1887 to 1889.",
     ["1889"]),
    # a year question is answered with a year, not a day of the month
    ("Augustin-Louis Cauchy died in which year?",
     "Baron Augustin-Louis Cauchy was a French mathematician (21 August 1789 – 23 May 1857).", ["1857"]),
    # a question of no role is offered both ends
    ("When was Tower Bridge built?", "Tower Bridge is a bridge in London, built between 1886 and 1894.",
     ["1886", "1894"]),
])
def test_a_date_questions_spans_follow_the_ranges_of_its_quote(question, quote, spans):
    assert answer_spans(question, quote) == spans


@pytest.mark.parametrize(("question", "subject"), [
    ("In what year was the Eiffel Tower completed?", "Eiffel Tower"),
    ("When was the Treaty of Tordesillas signed?", "Treaty of Tordesillas"),
    ("How tall is Mont Blanc?", "Mont Blanc"),
    ("How many nocturnes did Chopin write?", "Chopin"),
    ("What is the birth year of Francis Crick?", "Francis Crick"),
    ("Which year saw the birth of Cornelius Vanderbilt (American business tycoon)?", "Cornelius Vanderbilt"),
    ("Ludwig van Beethoven (German composer) died in which year?", "Ludwig van Beethoven"),
    ("In what year did Otto von Bismarck become chancellor of Germany?", "Otto von Bismarck"),
    # reached through something else (a hop), a possessive, a comparison, a name asked for: no subject page
    ("In what year was the author of the novel Pride and Prejudice born?", None),
    ("What is the death year of the author of the play A Doll's House?", None),
    ("When was the Eiffel Tower's designer born?", None),
    ("Who died first, Mozart or Haydn?", None),
    ("Who designed the Eiffel Tower?", None),
    ("In what year did the film Citizen Kane appear?", None),
])
def test_the_subject_a_typed_question_is_answered_on(question, subject):
    assert question_subject(question) == subject
