"""What kind of answer a question asks for, and the shape such an answer takes.

A comparison offers its candidates ("Who died first, A or B?"): `question_options` reads
them, and the answer must be one of them (or a shorter name of one: "Tower Bridge" for
"London's Tower Bridge").

`expected_type` reads the question's form: a when-question wants a date, a how-tall one a
measure, a how-many one a number (None: anything, a name or a phrase). `ANSWER_PATTERNS`
holds, per type, the regular expression a short answer of that type matches; the research
loop hands it to the decoding grammar as the `answer` argument's `pattern`, so a model that
would answer "In what year was Francis Crick born?" with "Francis Crick" must write a date
instead (typed answers; measured in README, STaR section). The scorer's type check
(evals.scoring.answer_type_ok) reads the same `expected_type`. Bottom floor: the planner and
evals both import it.
"""

from __future__ import annotations

import re

from tools.evidence import content_words, is_function_word, normalize

__all__ = ["ANSWER_PATTERNS", "NUMERIC_TYPES", "SPAN_MAX_WORDS", "SPAN_TYPES", "YEAR_NOUN", "answer_pattern", "answer_spans",
           "date_ranges", "expected_type", "matches_type", "question_options", "question_subject", "range_role",
           "repeats_question", "selects_spans"]

# a year named as a noun: "the birth year of X", "the year of his death"
YEAR_NOUN = (r"\b(?:birth|death|founding|completion|publication|release) (?:year|date)\b|"
             r"\b(?:year|date) of (?:(?:his|her|its|their|the) )?(?:birth|death|founding|completion|"
             r"publication|release|independence)\b")
_TYPES = (  # (type, question pattern), first match wins
    # "What is the birth year of X?", "the year of his death", "In which decade ...?": a date too
    ("date", re.compile(r"^(?:when|in (?:what|which) (?:year|century|decade)|(?:what|which) (?:year|date|century|decade)|"
                        r"on (?:what|which) (?:date|day))\b|\b(?:what|which) year\b|"
                        r"^(?!(?:[a-z]+ )?(?:who|whom|whose|where)\b).*?(?:" + YEAR_NOUN + r")")),
    ("measure", re.compile(r"\bhow (?:tall|high|long|far|deep|heavy|wide|big|large|old)\b|"
                           r"\bwhat is the (?:height|length|area|elevation|depth|width|mass|weight)\b")),
    ("number", re.compile(r"\bhow (?:many|much)\b|\b(?:what|which) (?:is|was|are|were) the number of\b")),
    # a who-question, a where-question, "what prize / which city / by what name", "by whom",
    # "known as what", "Name the author of X": a name, never a bare number or year ("1803" for "Who discovered osmium?")
    ("name", re.compile(r"^(?:(?:from|by|to|with|for|of|after|at|in) )?(?:who|whom|whose|where)\b|\bby whom\b|"
                        r"\b(?:known as|called|named) what\b|\bby what name\b|^name the\b|"
                        r"\b(?:what|which) (?:(?!(?:was|is|were|are|did|does|do|has|had)\b)[a-z]+ ){0,2}(?:name|title|prize|award|city|town|village|country|"
                        r"island|building|institution|university|company|organi[sz]ation|river|mountain|plateau|"
                        r"epoch|species|ship|novel|treaty|language|empire|dynasty|viaduct|bull|academy|"
                        r"observatory|tunnel|chronicler|ballet|philosopher|composer|emperor|republic)\b")),
)
NUMERIC_TYPES = ("date", "measure", "number")

_APPROX = r"(?:(?:about|around|approximately|nearly|over|some|c\.) )?"
_NUMBER = r"[0-9][0-9,]{0,12}(?:\.[0-9]{1,4})?(?: (?:thousand|million|billion|trillion))?"
_UNIT = r"(?: ?[A-Za-z°²³/%][A-Za-z0-9°²³/%.-]{0,15}){0,3}"
_MONTH = r"(?:January|February|March|April|May|June|July|August|September|October|November|December)"
_DATE = (r"(?:[0-9]{1,2} )?(?:" + _MONTH + r" )?(?:[0-9]{1,2}, )?[0-9]{1,4}(?:s| ?(?:BC|BCE|AD|CE))?"
         r"|[0-9]{1,2}(?:st|nd|rd|th) (?:century|millennium)(?: (?:BC|BCE))?")

# whole-answer shapes (anchored by the grammar; use `matches_type` to test a string)
ANSWER_PATTERNS: dict[str, str] = {
    "date": _APPROX + r"(?:" + _DATE + r")",
    "number": _APPROX + _NUMBER + r"(?: [a-z]{2,15}){0,2}",
    "measure": _APPROX + _NUMBER + _UNIT,
    "name": r"[^0-9\s\"\\][^\n]*",  # anything that does not start with a digit
}


def expected_type(question: str | None) -> str | None:
    """'date', 'measure', 'number' or 'name' when the question's form asks for one; else None."""
    q = " ".join((question or "").casefold().split())
    return next((kind for kind, pattern in _TYPES if pattern.search(q)), None)


# the forms a question offers its candidates in: "Who died first, A or B?", "A or B: whose
# birth came first?", "Of A and B, which ...?", "A and B, who ...?", "Which of A and B was ...?"
_OFFERS = (
    re.compile(r",\s*(?P<a>[^,?]+?)\s+or\s+(?P<b>[^?]+?)\s*\?\s*$"),
    re.compile(r"^(?P<a>[^:?]+?)\s+or\s+(?P<b>[^:?]+?)\s*:"),
    re.compile(r"^of\s+(?P<both>.+?),\s*(?:which|who|whose|what)\b", re.I),
    re.compile(r"^(?P<both>[^,?]+?),\s*(?:which|who|whose|what)\b", re.I),
    re.compile(r"^(?:[Ww]hich|[Ww]ho|[Ww]hom|[Ww]hose)\s+of\s+(?P<both>.+?)\s+(?=[a-z])"
               r"(?!(?:and|of|de|the|von|van|der|da|del|di|du|la|le|y|al|bin|ibn)\b)"),
)
_CONNECTORS = {"of", "de", "the", "von", "van", "der", "da", "del", "di", "du", "la", "le", "y", "'t", "al", "bin", "ibn"}


def _variants(option: str) -> list[str]:
    """`option` and the shorter names it may be answered with: without leading lowercase words
    ("the novel X" -> "X"), the named side of a possessive ("London's Tower Bridge" -> "Tower
    Bridge", "Yuri Gagarin's on Vostok 1" -> "Yuri Gagarin"), its leading proper name ("Cali in
    Colombia" -> "Cali")."""
    option = " ".join(option.split()).strip(" .,;")
    out = [option]
    words = option.split(" ")
    while len(words) > 1 and words[0][:1].islower():
        words = words[1:]
    core = " ".join(words)
    out.append(core)
    possessive = re.search(r"['’]s\s+", core)
    if possessive:  # "Australia's Murray River": the right side names it; "Gagarin's on Vostok 1": the left
        left, right = core[:possessive.start()], core[possessive.end():]
        core = right if right[:1].isupper() else left
        out.append(core)
    name = []
    for w in core.split(" "):
        if w[:1].isupper() or w[:1].isdigit() or (name and w.casefold() in _CONNECTORS):
            name.append(w)
        else:
            break
    while name and name[-1].casefold() in _CONNECTORS:
        name.pop()
    if name:
        out.append(" ".join(name))
    return list(dict.fromkeys(v for v in out if v and (v[:1].isupper() or v[:1].isdigit() or option[:1].islower())))


def question_options(question: str | None) -> list[str]:
    """The candidates a comparison question offers ("Who died first, A or B?"), with the
    shorter names each may be answered with; [] when it offers none. "A and B" forms split at
    every " and ", so a name with "and" in it ("Antigua and Barbuda") stays a candidate."""
    q = " ".join((question or "").split())
    for pattern in _OFFERS:
        m = pattern.search(q)
        if not m:
            continue
        groups = m.groupdict()
        if groups.get("a"):
            pairs = [(groups["a"], groups["b"])]
            before = q[:m.start()].rsplit(",", 1)
            # "Which is larger, Punjab, Pakistan or Yunnan?": a name with a comma in it
            if len(before) == 2 and before[1].strip()[:1].isupper():
                pairs.append((f"{before[1].strip()}, {groups['a']}", groups["b"]))
        else:
            parts = groups["both"].split(" and ")
            pairs = [(" and ".join(parts[:i]), " and ".join(parts[i:])) for i in range(1, len(parts))]
        if not pairs:
            continue
        options = [v for a, b in pairs for side in (a, b) for v in _variants(side)]
        return list(dict.fromkeys(options))
    return []


_REGEX_SPECIAL = set(".^$*+?()[]{}|\\/")


def _literal(text: str) -> str:
    return "".join("\\" + c if c in _REGEX_SPECIAL else c for c in text)


def answer_pattern(question: str | None) -> str | None:
    """The regular expression an answer to `question` must match (None: no constraint): one of
    the candidates a comparison offers, else the shape of the type the question asks for."""
    options = [o for o in question_options(question) if '"' not in o and "\\" not in o]
    if len(options) >= 2:
        return "(?:" + "|".join(_literal(o) for o in sorted(options, key=len, reverse=True)) + ")"
    kind = expected_type(question)
    return ANSWER_PATTERNS.get(kind) if kind else None


def matches_type(question: str | None, answer: str) -> bool:
    """Whether `answer` has the shape `question` asks for (True when it asks for no shape)."""
    pattern = answer_pattern(question)
    return pattern is None or re.fullmatch(pattern, answer, flags=re.I) is not None


def repeats_question(question: str | None, answer: str | None) -> bool:
    """Whether `answer` only repeats words of `question` ("James Dunlop" for "From which town did
    James Dunlop discover Centaurus A?"): no answer, unless the question offers it as a
    candidate (a comparison) or asks for a shape (a date, number or measure is checked there)."""
    words = content_words(answer)
    if not words or expected_type(question) in NUMERIC_TYPES or len(question_options(question)) >= 2:
        return False
    if " or " in f" {normalize(question)} ":
        return False
    return words <= content_words(question)


# --- answer-span selection ----------------------------------------------------------------------
SPAN_MAX_WORDS = 8  # the longest short answer a quote offers ("University College London", "19 months old")
_EDGE = "\"'()[]{},;:.!?“”‘’"


def _balanced(text: str) -> bool:
    return text.count("(") == text.count(")") and text.count('"') % 2 == 0


# the questions whose answers are held to spans of the quote: those asking for a name, a
# quantity or a date, and comparisons. Measured on the seed adapters (README, STaR section):
# there the model left free answers with the question's own words or a wrong name, and spans
# gained on dev and on the human questions. Dates first lost on dev (the first year of
# "(1497 – 1560)" for a death year): a date's spans now follow the question's role in a range
# (`range_role`, `date_ranges`). An untyped question ("Which continent…?") lost on dev
# ("Asia", which the page's sentences do not state) and stays free.
SPAN_TYPES = ("name", "number", "measure", "date")

# --- dates inside ranges: "(1871–1937)", "from 1887 to 1889", "between 1914 and 1918" ---------
_YEAR = r"[0-9]{3,4}"
_A_YEAR = re.compile(r"(?:[0-9]{3,4}|[0-9]{1,4} ?(?:BCE|BC|AD|CE))", re.I)  # what a year question is offered
_DAY_MONTH = r"(?:[0-9]{1,2} )?(?:" + _MONTH + r" )?(?:[0-9]{1,2}, )?"
_RANGE = re.compile(r"(?<![0-9,.])(?P<a>" + _YEAR + r")(?: ?(?P<era_a>BCE|BC|AD|CE))?\)?"
                    r"(?: ?(?:–|—|-|to|until|and) ?)(?:c\. ?)?" + _DAY_MONTH +
                    r"(?P<b>" + _YEAR + r")(?: ?(?P<era_b>BCE|BC))?(?![0-9])")
# what a date question asks of a range: its end ("died", "completed") or its start ("born")
_ROLE_END = re.compile(r"\b(?:die[sd]?|death|pass(?:ed|es)? away|complet\w*|finish\w*|end(?:ed|s)?|clos(?:e|ed)|"
                       r"abolish\w*|dissolv\w*|collaps\w*|fell|conclu\w*|retire\w*)\b")
_ROLE_START = re.compile(r"\b(?:born|birth|found(?:ed|ing)?|establish\w*|beg[au]n|begin\w*|start\w*|launch\w*|"
                         r"incorporat\w*)\b")


def range_role(question: str | None) -> str | None:
    """'end' when a date question asks for the end of a period (a death, a completion), 'start'
    for its beginning (a birth, a founding), None for neither or both."""
    q = " ".join((question or "").casefold().split())
    end, start = bool(_ROLE_END.search(q)), bool(_ROLE_START.search(q))
    return "end" if end and not start else "start" if start and not end else None


def date_ranges(text: str) -> list[tuple[str, str]]:
    """The (start, end) years of the periods `text` states: "(1871–1937)", "from 1887 to 1889",
    "30 August 1871 – 19 October 1937", "c. 460 – c. 400 BC". A pair counts when its years run
    forward (backward in a BC range) within 200 years."""
    out = []
    for m in _RANGE.finditer(text or ""):
        a, b = int(m["a"]), int(m["b"])
        bc = (m["era_b"] or m["era_a"] or "").startswith("BC")
        if (0 < a - b <= 200) if bc else (0 < b - a <= 200):
            era = f" {m['era_b']}" if m["era_b"] else ""
            out.append((m["a"] + era, m["b"] + era))
    return out


def selects_spans(question: str | None) -> bool:
    """Whether the answer to `question` is held to a span of its quote (SPAN_TYPES, comparisons)."""
    return len(question_options(question)) >= 2 or expected_type(question) in SPAN_TYPES


def _name_like(words: list[str]) -> bool:
    """A name's words: capitalized, or connectors inside ("Leonardo da Vinci"); the last may be
    a common noun ("Tapanuli orangutan")."""
    if not words[0][:1].isupper():
        return False
    inner = words[1:-1]
    return all(w[:1].isupper() or w[:1].isdigit() or w.casefold() in _CONNECTORS for w in inner)


def answer_spans(question: str | None, quote: str, *, max_words: int = SPAN_MAX_WORDS) -> list[str]:
    """The short answers `quote` (a sentence the model read) offers to `question`: its runs of
    at most `max_words` words, outer punctuation stripped, that cross no clause break (", "),
    neither start nor end with a function word ("the" may open one: "the Seikan Tunnel"), have
    the shape the question asks for (`matches_type`; a name's words are capitalized), and are not
    made of the question's own words (`repeats_question`). In sentence order, each once.

    What the answer tool's grammar lets the model write once it has chosen its quote: the
    answer is then a span of evidence it read, never a name recalled from the question."""
    words = quote.split()
    kind = expected_type(question)
    out: dict[str, None] = {}
    for i in range(len(words)):
        for j in range(i + 1, min(len(words), i + max_words) + 1):
            inner = words[i:j]
            if any(w.endswith((",", ";", ":")) for w in inner[:-1]):
                break  # a longer run crosses the clause break too
            span = " ".join(inner).strip(_EDGE)
            if not span or not _balanced(span):
                continue
            parts = span.split()
            if (is_function_word(parts[0]) and parts[0].casefold() != "the") or is_function_word(parts[-1]):
                continue
            if kind == "name" and not _name_like(parts):
                continue
            if not matches_type(question, span) or repeats_question(question, span):
                continue
            out.setdefault(span, None)
    if kind == "date":
        return _date_spans(question, quote, list(out))
    return list(out)


def _date_spans(question: str | None, quote: str, spans: list[str]) -> list[str]:
    """A date question's spans, read through the ranges the quote states: the year of the
    question's role is offered even when the range writes it glued ("(1871–1937)"), the other
    year of the range is not offered ("1887" of "from 1887 to 1889" for "completed")."""
    role = range_role(question)
    if re.search(r"\byears?\b", (question or "").casefold()):  # a year, not a day or a full date
        spans = [s for s in spans if _A_YEAR.fullmatch(s)]
    offered, unwanted = [], set()
    for start, end in date_ranges(quote):
        offered += [end] if role == "end" else [start] if role == "start" else [start, end]
        if role:
            unwanted.add((start if role == "end" else end).split()[0])
    keep = [s for s in spans if not unwanted & set(re.findall(r"[0-9]+", s))]
    for year in offered:
        if year not in keep and not repeats_question(question, year):
            keep.append(year)
    return sorted(dict.fromkeys(keep), key=lambda s: (quote.find(s) if s in quote else quote.find(s.split()[0])))


# the forms in which a typed question names its subject right after its question words:
# "In what year was the Eiffel Tower completed?", "How tall is Mont Blanc?", "What is the birth
# year of Francis Crick?", "Ludwig van Beethoven (German composer) died in which year?"
_SUBJECT_FORMS = (
    re.compile(r"^(?:(?:in|on|by|during) )?(?:what|which) (?:year|date|day|decade|century) "
               r"(?:was|were|did|is|are|does|do|has|had) (?P<rest>.+)$", re.I),
    re.compile(r"^when (?:was|were|did|is|are|does|do|has|had) (?P<rest>.+)$", re.I),
    re.compile(r"^how (?:tall|high|long|far|deep|heavy|wide|big|large|old) (?:is|was|are|were) (?P<rest>.+)$", re.I),
    re.compile(r"^how (?:many|much) (?:[a-z]+ ){1,3}?(?:did|does|do|is|was|are|were|has|had) (?P<rest>.+)$", re.I),
    re.compile(r"^(?:what|which) (?:is|was) the (?:[a-z]+ ){0,2}?(?:year|date|height|length|area|elevation|depth|"
               r"width|mass|weight|population) of (?P<rest>.+)$", re.I),
    re.compile(r"^(?:what|which) year saw the (?:birth|death|founding|start|end) of (?P<rest>.+)$", re.I),
)
_SUBJECT_FIRST = re.compile(r"^.+ (?:in |on )?(?:what|which) (?:year|date|day|decade|century)\?$", re.I)
_NOT_A_SUBJECT = re.compile(r"^(?:what|which|who|whom|whose|where|when|why|how|in|on|at|of|from|by|for|to|with|"
                            r"under|during|after|before|since|a|an|is|was|were|are|did|does|do|has|had)\b", re.I)


def _leading_name(text: str) -> str | None:
    """The name `text` opens with ("the Eiffel Tower completed?" -> "Eiffel Tower", "Treaty of
    Tordesillas signed" -> "Treaty of Tordesillas"), when what follows it is the question's verb,
    a parenthesis or the end; None when the name is a possessive or a part of something else
    ("the author of the novel X", "the Eiffel Tower's designer", "Ukraine or Guinea")."""
    words = re.sub(r"^the\s+", "", text.strip(), flags=re.I).split()
    name: list[str] = []
    for i, w in enumerate(words):
        bare = w.rstrip("?.,;:")
        if bare[:1].isupper() or bare[:1].isdigit() or (name and bare.casefold() in _CONNECTORS
                                                          and i + 1 < len(words) and words[i + 1][:1].isupper()):
            name.append(bare)
            if bare != w or re.search(r"['’]s$", bare):
                break
            continue
        break
    if not name or re.search(r"['’]s$", name[-1]):
        return None
    rest = words[len(name):]
    follower = rest[0].casefold() if rest else ""
    if follower in {"of", "and", "or", "'s", "’s"} or (follower and not (follower[:1].isalpha() or follower[:1] == "(")):
        return None
    return " ".join(name)


def question_subject(question: str | None) -> str | None:
    """The named subject of a question that asks for a date, a number or a measure of it (the
    page it is answered on is the subject's own), or None: another type, a comparison, or a
    subject that is only reached through something else ("the author of the novel X": a hop)."""
    q = " ".join((question or "").split())
    if expected_type(q) not in NUMERIC_TYPES or len(question_options(q)) >= 2:
        return None
    q = re.sub(r"\s*Give the [a-z]+\.$", "", q)
    if re.search(r"[.!?;:]\s+\S", q):  # a question told in several sentences sets up a hop
        return None
    for form in _SUBJECT_FORMS:
        m = form.match(q)
        if m:
            return _leading_name(m["rest"])
    if _SUBJECT_FIRST.match(q) and not _NOT_A_SUBJECT.match(re.sub(r"^the\s+", "", q, flags=re.I)):
        return _leading_name(q)
    return None
