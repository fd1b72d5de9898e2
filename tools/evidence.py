"""What counts as evidence: one normalization, one sentence splitter, one "supported".

Every part of deepstar that asks "does this page back this answer?" asks it here: the
planner's verify node, the scorer, the STaR filter, the demonstration builder and the
eval harness. It sits at the bottom floor (beside the fetcher that produced the page
text) so the planner and `evals` share it without importing each other.

Normalization (`normalize`), decided once:
- Unicode: NFKD, combining marks dropped ("Schrödinger" == "Schrodinger"), case-folded;
- numbers: thousands separators dropped ("1,000" == "1000"); a decimal point between digits
  is kept ("2.04" stays "2.04", so it never equals "204");
- punctuation and the articles a/an/the removed, whitespace collapsed (so a trailing
  period, quotes or brackets never matter).

Support (`find_evidence`): a citation is supported by a *sentence* of the cited page, not by
the page. The sentence is the model's quote when the quote is a real clause of the page
(at least `MIN_QUOTE_WORDS` words, found word-bounded in the page), else, when there is no
usable quote, the page's own sentence; it must contain one of the claims (the answer, or
the gold alias it matched) and name the question's subject (share a content word with the
question, the claims' own words not counted unless the question offers the claim, as a
comparison does). A sentence is read under its page's `# heading`: "He died in 1695" on the
page "# Henry Purcell" is about Henry Purcell, and "1865 opera by Richard Wagner" on the page
"# Tristan und Isolde" states a fact of Tristan und Isolde. A quote long enough to be a clause that is
not on the page is a fabrication: unsupported, whatever else the page says.

A report sentence (`statement_evidence`, what DeepResearch Bench's FACT calls a statement-URL
pair) is the same test with `every=True`: its claims are what it asserts that a page can be held
to (`claims_of`: its numbers and names, or with neither its content words), and one sentence of a
page it cites must state every one of them; an extractive line (the answer, a finding) carries
its own claim, subject and quote.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

__all__ = ["CITE_MARK", "MIN_QUOTE_WORDS", "QUOTE_MAX_CHARS", "Evidence", "claims_of", "contains", "content_words",
           "find_evidence", "is_function_word", "normalize", "quote_windows", "relevant_sentences", "split_sentences",
           "statement_evidence"]

# the answer tool's quote: one sentence of a page, copied (planner.prompts.ANSWER_TOOL)
QUOTE_MAX_CHARS = 200
MIN_QUOTE_WORDS = 3  # "1889" or "a" is a substring, not a clause of the page
_DECIMAL = "\u0000"
_ABBREV = re.compile(r"(?:\b(?:[A-Z]|St|Mr|Mrs|Dr|Jr|Sr|c|ca|vs|e\.g|i\.e|U\.S|No)\.)$")
# words that never name a subject: question words, auxiliaries, generic nouns of templates
_STOP = frozenset("""
a about after all also among an and any are as at be been before being between both but by can could did do
does during each for from had has have he her his how if in into is it its many may more most much of on one
or other our over same she so some such than that the their them then there these they this those through to
under up was we were what when where whether which while who whom whose why will with would year years you
name named called first last known give tell located place kind type number date day month long tall high big
large small old""".split())
# capitalized only because they open a sentence: not names a page must state
_OPENERS = frozenset("""
according although however instead meanwhile moreover overall see still therefore though thus today yet
""".split())
CITE_MARK = re.compile(r"\[(\d{1,4})\]")  # an inline citation of a report: [n]


def normalize(text: str | None) -> str:
    text = unicodedata.normalize("NFKD", text or "")
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    while True:  # 1,234,567 -> 1234567 (loop: overlapping groups)
        new = re.sub(r"(\d),(\d{3})(?!\d)", r"\1\2", text)
        if new == text:
            break
        text = new
    text = re.sub(r"(?<=\d)\.(?=\d)", _DECIMAL, text)
    text = "".join(" " if unicodedata.category(ch)[0] in "PS" else ch for ch in text)
    text = text.replace(_DECIMAL, ".")
    text = re.sub(r"\b(?:a|an|the)\b", " ", text)
    return " ".join(text.split())


def contains(haystack: str | None, needle: str | None) -> bool:
    """Whether normalized `needle` occurs in normalized `haystack` on word boundaries."""
    n = normalize(needle)
    return bool(n) and f" {n} " in f" {normalize(haystack)} "


def split_sentences(text: str) -> list[str]:
    """The sentences of a page text, line by line (a heading is its own sentence);
    conservative about abbreviations and initials."""
    parts: list[str] = []
    for line in (text or "").splitlines():
        line = line.lstrip("#").strip()
        start = 0
        for match in re.finditer(r"[.!?](?=\s+[A-Z\"'(])", line):
            candidate = line[start: match.end()]
            if _ABBREV.search(candidate):
                continue
            parts.append(candidate.strip())
            start = match.end()
        tail = line[start:].strip()
        if tail:
            parts.append(tail)
    return parts


def is_function_word(word: str) -> bool:
    """Whether `word` (punctuation aside) is one that never names anything: "the", "of", "was"."""
    n = normalize(word)  # "a", "an" and "the" normalize to nothing
    return not n or n in _STOP


def quote_windows(sentence: str, limit: int = QUOTE_MAX_CHARS) -> list[str]:
    """`sentence` as the answer tool's quote can hold it: itself when it fits, else runs of its
    words of at most `limit` characters, each starting half a window after the one before
    (so every span of a few words lies inside one of them). Words are never cut."""
    sentence = " ".join(sentence.split())
    if len(sentence) <= limit:
        return [sentence] if sentence else []
    words, out, start = sentence.split(" "), [], 0
    while start < len(words):
        end = start
        while end < len(words) and len(" ".join(words[start:end + 1])) <= limit:
            end += 1
        if end == start:  # one word longer than the limit: skip it
            start += 1
            continue
        out.append(" ".join(words[start:end]))
        if end == len(words):
            break
        start = max(start + 1, (start + end) // 2)
    return out


def content_words(text: str | None) -> set[str]:
    return {w for w in normalize(text).split() if len(w) >= 3 and w not in _STOP and not w.isdigit()}


def _ranking_words(text: str | None) -> set[str]:
    # a question's content words and its numbers ("in 1960", "in 2017" pick the sentence out)
    return content_words(text) | {w for w in normalize(text).split() if w.isdigit() and len(w) >= 2}


def relevant_sentences(page_text: str | None, question: str | None, limit: int = 2) -> list[str]:
    """The page's sentences that share the most with `question`, best first (at most `limit`;
    none that shares nothing). A shared word counts more the fewer of the page's sentences
    hold it, so the subject's name, on every line of its own article, weighs little beside
    "alliterative" or "nocturnes". Ties keep page order; headings are left out."""
    body = "\n".join(line for line in (page_text or "").splitlines() if not line.lstrip().startswith("#"))
    sentences = [s for s in split_sentences(body) if len(s.split()) >= 2]  # headings are titles, not statements
    asked = _ranking_words(question)
    if not sentences or not asked:
        return []
    words = [_ranking_words(s) for s in sentences]

    def has(word: str, bag: set[str]) -> bool:
        return word in bag or (not word.isdigit() and any(_same_stem(word, h) for h in bag if not h.isdigit()))

    weight = {}
    for w in asked:
        holding = sum(1 for bag in words if has(w, bag))
        if holding:
            weight[w] = math.log(1 + len(sentences) / holding)
    scored = [(sum(v for w, v in weight.items() if has(w, bag)), -i) for i, bag in enumerate(words)]
    order = sorted((k for k in range(len(sentences)) if scored[k][0] > 0), key=lambda k: scored[k], reverse=True)
    seen, out = set(), []
    for k in order:
        if sentences[k] not in seen:
            seen.add(sentences[k])
            out.append(sentences[k])
        if len(out) >= limit:
            break
    return out


def _same_stem(a: str, b: str) -> bool:
    """"completed" / "completion", "film" / "filmmaker": a long common prefix, or the shorter
    word (4+ letters) starting the longer."""
    short, long_ = sorted((a, b), key=len)
    return a[:5] == b[:5] if len(short) >= 5 else len(short) >= 4 and long_.startswith(short)


def _names_subject(sentence: str, subject: str, claims: Sequence[str]) -> bool:
    # the claim's own words do not name the subject, unless the question itself offers the
    # claim ("Of Sudan and Burkina Faso, which ..." -> "Sudan has ...")
    offered = [c for c in claims if contains(subject, c)]
    wanted = content_words(subject) - set().union(*(content_words(c) for c in claims if c not in offered))
    if not wanted:  # the question has no word of its own beyond the claim: nothing to name
        return True
    have = content_words(sentence)
    return any(w in have or any(_same_stem(w, h) for h in have) for w in wanted)


@dataclass(frozen=True)
class Evidence:
    """The sentence a citation rests on, and why it does not support the claim (None: it does)."""

    sentence: str
    problem: str | None = None

    @property
    def supported(self) -> bool:
        return self.problem is None


def find_evidence(page_text: str | None, *, claims: Iterable[str], subject: str,
                  quote: str | None = None, every: bool = False) -> Evidence:
    """The sentence of `page_text` that states one of `claims` (with `every`: all of them) and
    names `subject` (the question)."""
    claims = [c for c in claims if normalize(c)]
    match = all if every else any
    if page_text is None:
        return Evidence("", "the page was not fetched in this run")
    if not claims:
        return Evidence("", "there is no answer to support")
    quote = " ".join((quote or "").split())
    # a sentence under the page's heading ("# Henry Purcell") is about what the heading names
    first = page_text.lstrip().split("\n", 1)[0]
    heading = first.lstrip("#") if first.startswith("#") else ""
    if len(normalize(quote).split()) >= MIN_QUOTE_WORDS:
        if not contains(page_text, quote):
            return Evidence(quote, "the quote is not on the fetched page")
        if not match(contains(f"{quote} {heading}", c) for c in claims):
            return Evidence(quote, "the quoted sentence does not state the answer")
        if not _names_subject(f"{quote} {heading}", subject, claims):
            return Evidence(quote, "the quoted sentence does not name the question's subject")
        return Evidence(quote)
    sentences = split_sentences(page_text)
    stating = [s for s in sentences if match(contains(f"{s} {heading}", c) for c in claims)]
    for sentence in stating:
        if _names_subject(f"{sentence} {heading}", subject, claims):
            return Evidence(sentence[:400])
    if stating:
        return Evidence(stating[0][:400], "no sentence stating the answer names the question's subject")
    if every and len(claims) > 1 and sentences:  # say what the closest sentence lacks
        body = [s for s in sentences if normalize(s) != normalize(heading)] or sentences
        closest = max(body, key=lambda s: sum(contains(f"{s} {heading}", c) for c in claims))
        missing = [c for c in claims if not contains(f"{closest} {heading}", c)]
        return Evidence(closest[:400], f"no sentence of the page states {', '.join(missing)} with its other claims")
    return Evidence("", "no sentence of the page states the answer")


def claims_of(sentence: str) -> list[str]:
    """What a report sentence asserts that its cited page must state: its numbers and its
    names (capitalized words that are no stop word or sentence opener, a possessive 's
    dropped), or, with neither, its content words. Citation marks and markdown are ignored."""
    text = CITE_MARK.sub(" ", sentence or "")
    numbers = re.findall(r"\d+(?:,\d{3})*(?:\.\d+)?", text)
    names = [re.sub(r"['\u2019]s$", "", w) for w in re.findall(r"\b[A-Z][\w'\u2019-]*", text)
             if w.casefold() not in _STOP | _OPENERS]
    found = list(dict.fromkeys(numbers + names))
    if found:
        return found
    words = content_words(text) - _OPENERS
    return list(dict.fromkeys(w for w in normalize(text).split() if w in words))


def statement_evidence(statement: Mapping, page_of: Callable[[int], str | None]) -> Evidence:
    """Whether a report statement is supported by a page it cites: `find_evidence` with
    `every=True` on each cited page (`page_of(n)`: the text of this run's page [n], None when
    [n] is no page fetched in this run), the first that supports it winning.

    `statement`: {text, cites: [n], claims?, subject?, quote?, rejected?}; claims default to
    `claims_of(text)` and the subject to the sentence itself (its names are then claims: the
    page sentence must name them). `rejected`: citations dropped because they named no page
    fetched in this run."""
    text = CITE_MARK.sub(" ", str(statement.get("text") or ""))
    cites = [n for n in statement.get("cites") or [] if isinstance(n, int)]
    if not cites:
        if statement.get("rejected"):
            return Evidence("", f"its citation ({', '.join(map(str, statement['rejected']))}) is no page "
                                "fetched in this run")
        return Evidence("", "no citation")
    claims = list(statement.get("claims") or claims_of(text))
    subject = str(statement.get("subject") or text)
    found = [find_evidence(page_of(n), claims=claims, subject=subject, quote=statement.get("quote"), every=True)
             for n in cites]
    return next((f for f in found if f.supported), found[0])
