"""The one definition of "supported": a sentence of the fetched page that states the claim
and names the question's subject."""

from __future__ import annotations

from tools.evidence import (
    claims_of,
    contains,
    find_evidence,
    normalize,
    relevant_sentences,
    split_sentences,
    statement_evidence,
)

PAGE = ("# Henry Purcell\nEnglish composer (1659–1695)\nHenry Purcell was an English composer. "
        "He died in 1695 at Westminster. The Purcell Room in London is named after him.")
Q = "In what year did Henry Purcell die?"


def test_normalize_and_contains_are_word_bounded():
    assert normalize("The Schrödinger  equation, 1,000.") == "schrodinger equation 1000"
    assert contains("He died in 1695.", "1695") and not contains("He died in 16950.", "1695")
    assert not contains("anything", "")


def test_split_sentences_reads_lines_and_keeps_initials():
    assert split_sentences("# Title\nJ. S. Bach was born. He died.") == ["Title", "J. S. Bach was born.", "He died."]


def test_a_real_quote_that_states_the_answer_is_supported():
    found = find_evidence(PAGE, claims=["1695"], subject=Q, quote="He died in 1695 at Westminster.")
    assert found.supported and found.sentence == "He died in 1695 at Westminster."


def test_a_one_word_quote_is_no_quote_the_page_sentence_decides():
    found = find_evidence(PAGE, claims=["1695"], subject=Q, quote="1695")
    assert found.supported and found.sentence == "English composer (1659–1695)"  # read under "# Henry Purcell"


def test_a_fabricated_quote_is_unsupported_even_if_the_page_states_the_answer():
    found = find_evidence(PAGE, claims=["1695"], subject=Q, quote="Purcell died in 1695 of a cold.")
    assert not found.supported and "not on the fetched page" in found.problem


def test_a_quote_that_does_not_state_the_claim_or_name_the_subject():
    assert "does not state" in find_evidence(PAGE, claims=["1700"], subject=Q,
                                             quote="He died in 1695 at Westminster.").problem
    other = "# Westminster\nWestminster is an area of London. Its abbey was finished in 1695."
    assert "does not name" in find_evidence(other, claims=["1695"], subject=Q,
                                            quote="Its abbey was finished in 1695.").problem


def test_no_page_no_claim():
    assert find_evidence(None, claims=["1695"], subject=Q).problem == "the page was not fetched in this run"
    assert not find_evidence(PAGE, claims=[""], subject=Q).supported
    assert find_evidence(PAGE, claims=["Mozart"], subject=Q).problem == "no sentence of the page states the answer"


# --- report sentences (FACT's statement-URL pairs) ---------------------------------------------
def test_the_claims_of_a_report_sentence_are_its_numbers_and_names():
    assert claims_of("Henry Purcell died in 1695 at Westminster [1].") == ["1695", "Henry", "Purcell", "Westminster"]
    assert claims_of("However, the Purcell Room's name honours him [2].") == ["Purcell", "Room"]  # no opener, no 's
    assert claims_of("It was a cold winter [3].") == ["cold", "winter"]  # neither: its content words


def test_every_claim_of_a_statement_must_be_in_one_sentence_of_a_cited_page():
    pages = {1: PAGE, 2: "# Westminster\nWestminster is an area of London."}
    ok = statement_evidence({"text": "Henry Purcell died at Westminster [1].", "cites": [1]}, pages.get)
    assert ok.supported and ok.sentence == "He died in 1695 at Westminster."  # read under "# Henry Purcell"
    # each claim is on the page, but no one sentence states them together: unsupported
    apart = statement_evidence({"text": "Purcell died in London in 1695 [1].", "cites": [1]}, pages.get)
    assert not apart.supported and "London" in apart.problem
    # with `every=False` (one claim is enough) the same sentence would pass: `every` is what decides
    assert find_evidence(PAGE, claims=["London", "1695"], subject="Purcell died in London in 1695").supported
    # the second cited page may support it; a page not fetched in the run never does
    assert statement_evidence({"text": "Westminster is in London [3][2].", "cites": [3, 2]}, pages.get).supported
    assert statement_evidence({"text": "Westminster is in London [3].", "cites": [3]}, pages.get).problem == \
        "the page was not fetched in this run"
    assert statement_evidence({"text": "Westminster is in London.", "cites": []}, pages.get).problem == "no citation"
    rejected = statement_evidence({"text": "It is in London.", "cites": [], "rejected": ["http://x/"]}, pages.get)
    assert not rejected.supported and "http://x/" in rejected.problem


def test_relevant_sentences_weigh_rare_shared_words_over_the_subject():
    page = ("# Beowulf\nOld English epic poem\nBeowulf is an Old English poem consisting of 3,182 alliterative "
            "lines. Beowulf is one of the most translated works of Old English. Scholars call its author the "
            "Beowulf poet. In 1815 Beowulf was first printed.")
    best = relevant_sentences(page, "How many alliterative lines make up the Old English poem Beowulf?")
    assert best[0] == "Beowulf is an Old English poem consisting of 3,182 alliterative lines."
    assert len(best) == 2
    # a number in the question picks its sentence out; stems match (printed / print)
    assert relevant_sentences(page, "What happened to Beowulf in 1815?", limit=1) == [
        "In 1815 Beowulf was first printed."]
    assert relevant_sentences(page, "When was Beowulf print first?", limit=1) == ["In 1815 Beowulf was first printed."]
    # nothing shared, nothing listed; ties keep page order
    assert relevant_sentences(page, "Who painted Guernica?") == []
    assert relevant_sentences("A cat sat. A cat ran.", "Which cat?", limit=2) == ["A cat sat.", "A cat ran."]
    assert relevant_sentences("", "anything") == [] and relevant_sentences(page, None) == []
    assert relevant_sentences("# Symphony No. 9\nA symphony by Beethoven.", "Who wrote Symphony No. 9?") == [
        "A symphony by Beethoven."]  # the heading is the title, not a statement
