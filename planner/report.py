"""The report `write` builds and `verify` checks, statement by statement.

Two forms, one contract (the answer up front, `[n]` only to pages fetched in this run, a
Sources list at the end):

- extractive (the bundled small model, any endpoint without native tool calling): the
  answer, one finding per research note with the page sentence it rests on, the sources.
  Nothing in it is prose the model invented.
- composed (a capable endpoint: native tool calling, `PlannerConfig.report`): the answer
  line deepstar writes, then the model's summary and one section per sub-question, written
  from the numbered sources with inline `[n]`. A `[n]` that is no source of this run, or a
  URL that is none (a markdown link, a bare URL), is rejected: taken out of the text and
  kept on the sentence's statement; a URL of a source becomes its `[n]`.

Every sentence that carries a claim becomes a *statement* (DeepResearch Bench's FACT
calls it a statement-URL pair): {kind, text, raw, cites, rejected, claims?, subject?,
quote?, answer_bearing}. `verify` checks each against the pages it cites with the one
definition of "supported" (`tools.evidence.statement_evidence`) and marks the record;
a composed sentence that is not supported, or whose citation was rejected, is labelled
in the report. The scorer re-checks the recorded statements against the run's snapshots
(citation precision and recall, `evals.scoring.citation_metrics`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from tools.evidence import CITE_MARK, contains, normalize, split_sentences, statement_evidence

__all__ = ["UNSTATED", "check_statements", "composed_report", "extractive_report", "label_unstated",
           "note_citations"]

UNSTATED = " (unverified: no verified source states this)"
_LINK = re.compile(r"\[([^\]\n]*)\]\((https?://[^)\s]+)\)")  # [label](url)
_URL = re.compile(r"<?(https?://[^\s<>()\[\]]+[^\s<>()\[\].,;:!?'\"])>?")
_REJECTED = "\u0000{}\u0000"  # placeholder of a rejected citation until sentences are split
_PLACEHOLDER = re.compile("\u0000(\\d+)\u0000")
# citation marks after a sentence's end go before it, so "... 1889. [1] It ..." cites the first sentence
_TRAILING_MARKS = re.compile("([.!?])((?:\\s*(?:\\[\\d{1,4}\\]|\u0000\\d+\u0000))+)")


def note_citations(notes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One citation per (page, snippet) a note rests on, only pages fetched in this run;
    each such note gets its `n`."""
    citations: list[dict[str, Any]] = []
    by_key: dict[tuple[str, str], int] = {}
    for note in notes:
        key = (note.get("url", ""), note.get("snippet", ""))
        if note.get("fetched") and key[0] and key not in by_key:
            by_key[key] = len(citations) + 1
            citations.append({"n": by_key[key], "url": key[0], "title": note.get("title") or key[0],
                              "snippet": key[1], "claim": note["answer"]})
    for note in notes:
        note_n = by_key.get((note.get("url", ""), note.get("snippet", "")))
        if note_n:
            note["n"] = note_n
    return citations


def _answers(answer: str, notes: list[dict[str, Any]]) -> list[str]:
    return [a for a in [answer, *(n.get("answer", "") for n in notes)] if normalize(a)]


def _bearing(text: str, answers: list[str]) -> bool:
    """An answer-bearing claim: the sentence states the final answer or a finding's answer."""
    return any(contains(text, a) for a in answers)


def _answer_cite(answer: str, notes: list[dict[str, Any]]) -> int | None:
    cited = [n for n in notes if n.get("n")]
    found = next((n["n"] for n in cited if normalize(n["answer"]) == normalize(answer)), None)
    return found if found is not None or not cited else cited[-1]["n"]


def _head(question: str, answer: str, notes: list[dict[str, Any]],
          state: Mapping[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    """The title, the answer line and the truncation note; the answer's statement."""
    lines = [f"# {question}", ""]
    statements = []
    cite = _answer_cite(answer, notes)
    if answer:
        lines.append(f"**Answer:** {answer}" + (f" [{cite}]" if cite else " (no fetched source)"))
        statements.append({"kind": "answer", "text": answer, "raw": lines[-1], "cites": [cite] if cite else [],
                           "rejected": [], "claims": [answer], "subject": question, "answer_bearing": True})
    else:
        lines.append("**Answer:** not found.")
    if state.get("truncated"):
        lines.append(f"\n_Stopped early: {state.get('stop_reason') or 'budget reached'}; this is the best answer so far._")
    return lines, statements


def _finding_line(note: dict[str, Any]) -> str:
    cite = f" [{note['n']}]" if note.get("n") else " (source not fetched in this run)"
    quote = f' — "{note["snippet"]}"' if note.get("snippet") else ""
    return f"- {note['subquestion']} {note['answer']}{quote}{cite}"


def _finding(note: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
    line = _finding_line(note)
    if not note.get("answer"):
        return line, None
    return line, {"kind": "finding", "text": line, "raw": line, "cites": [note["n"]] if note.get("n") else [],
                  "rejected": [], "claims": [note["answer"]], "subject": note["subquestion"],
                  "quote": note.get("snippet") or None, "answer_bearing": True}


def _sources(citations: list[dict[str, Any]]) -> list[str]:
    return ["", "## Sources", "", *([f"[{c['n']}] {c['title']} — {c['url']}" for c in citations] or ["(none)"])]


def extractive_report(question: str, answer: str, notes: list[dict[str, Any]], citations: list[dict[str, Any]],
                      state: Mapping[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """The answer, one finding per note (its page sentence quoted), the sources."""
    lines, statements = _head(question, answer, notes, state)
    if notes:
        lines += ["", "## Findings", ""]
        for note in notes:
            line, statement = _finding(note)
            lines.append(line)
            if statement:
                statements.append(statement)
    lines += _sources(citations)
    return "\n".join(lines) + "\n", statements


def _prose(text: str, sources: Mapping[int, str], answers: list[str]) -> tuple[list[str], list[dict[str, Any]]]:
    """The model's paragraphs with only this run's citations left in them, and their statements."""
    url_n = {normalize(url): n for n, url in sources.items()}
    rejected: list[str] = []

    def cite_url(url: str) -> str:
        n = url_n.get(normalize(url))
        if n is not None:
            return f"[{n}]"
        rejected.append(url)
        return _REJECTED.format(len(rejected) - 1)

    def cite_n(match: re.Match[str]) -> str:
        n = int(match.group(1))
        if n in sources:
            return match.group(0)
        rejected.append(f"[{n}]")
        return _REJECTED.format(len(rejected) - 1)

    text = _LINK.sub(lambda m: f"{m.group(1)} {cite_url(m.group(2))}", text.replace("\u0000", ""))
    text = _URL.sub(lambda m: cite_url(m.group(1)), text)
    text = CITE_MARK.sub(cite_n, text)
    text = _TRAILING_MARKS.sub(lambda m: " " + " ".join(m.group(2).split()) + m.group(1), text)
    lines: list[str] = []
    statements: list[dict[str, Any]] = []
    for line in text.splitlines():
        if not line.strip():
            if lines and lines[-1]:
                lines.append("")
            continue
        bullet = re.match(r"\s*(?:[-*]|\d+\.)\s+", line)
        prefix = "- " if bullet else ""
        sentences = []
        for sentence in split_sentences(line[bullet.end():] if bullet else line):  # a model's "#" is no heading here
            refs = [rejected[int(i)] for i in _PLACEHOLDER.findall(sentence)]
            sentence = " ".join(_PLACEHOLDER.sub(" ", sentence).split())
            sentence = re.sub(r"\s+([.!?,;:)])", r"\1", sentence)
            if not sentence:
                continue
            sentences.append(sentence)
            cites = sorted({int(n) for n in CITE_MARK.findall(sentence)})
            statements.append({"kind": "prose", "text": CITE_MARK.sub("", sentence).strip(), "raw": sentence,
                               "cites": cites, "rejected": refs,
                               "answer_bearing": _bearing(CITE_MARK.sub(" ", sentence), answers)})
        if sentences:
            lines.append(prefix + " ".join(sentences))
    while lines and not lines[-1]:
        lines.pop()
    return lines, statements


def composed_report(question: str, answer: str, notes: list[dict[str, Any]], citations: list[dict[str, Any]],
                    subquestions: list[dict[str, Any]], written: Mapping[str, Any],
                    state: Mapping[str, Any]) -> tuple[str, list[dict[str, Any]]] | None:
    """The report a capable model wrote (`written`: {summary, sections: {sub-question id: text}}),
    or None when it wrote nothing usable (then the report stays extractive)."""
    summary = written.get("summary")
    summary = summary if isinstance(summary, str) else ""
    sections = written.get("sections")
    sections = sections if isinstance(sections, Mapping) else {}
    if not summary.strip() and not any(isinstance(v, str) and v.strip() for v in sections.values()):
        return None
    sources = {c["n"]: c["url"] for c in citations}
    answers = _answers(answer, notes)
    lines, statements = _head(question, answer, notes, state)
    paragraphs, said = _prose(summary, sources, answers)
    if paragraphs:
        lines += ["", *paragraphs]
        statements += said
    for sub in subquestions or [{"id": n["branch"], "text": n["subquestion"]} for n in notes]:
        lines += ["", f"## {sub['text']}", ""]
        text = sections.get(sub["id"])
        paragraphs, said = _prose(text, sources, answers) if isinstance(text, str) else ([], [])
        if paragraphs:
            lines += paragraphs
            statements += said
            continue
        # nothing written for it: what the research found, verbatim
        own = [n for n in notes if n.get("branch") == sub["id"]]
        for note in own:
            line, statement = _finding(note)
            lines.append(line)
            if statement:
                statements.append(statement)
        if not own:
            lines.append(f"_Not answered ({sub.get('status') or 'no finding'})._")
    lines += _sources(citations)
    return "\n".join(lines) + "\n", statements


def label_unstated(report: str, answer: str, notes: list[dict[str, Any]], stated: list[str]) -> str:
    """Mark the answer and each finding that no verified snippet states. Whatever a page
    talked the model into writing (prompt injection) thus reaches the report either
    attributed to a source that really says it, or labelled unverified."""
    def backed(text: str) -> bool:
        return any(contains(snippet, text) for snippet in stated)

    lines = report.split("\n")
    unstated_findings = {_finding_line(n) for n in notes if n.get("answer") and not backed(n["answer"])}
    for i, line in enumerate(lines):
        if line.startswith("**Answer:** ") and answer and not backed(answer):
            lines[i] = line + UNSTATED
        elif line in unstated_findings:
            lines[i] = line + UNSTATED
    return "\n".join(lines)


def check_statements(report: str, statements: list[dict[str, Any]],
                     page_of: Callable[[int], str | None]) -> tuple[str, list[dict[str, Any]]]:
    """Each statement checked against the pages it cites (`page_of(n)`: this run's page [n]);
    a composed sentence that is not supported, or whose citation was rejected, is labelled
    right after it in the report. The answer and the findings are labelled by `label_unstated`."""
    checked = []
    start = report.find("\n## Sources")
    body, tail = (report, "") if start < 0 else (report[:start], report[start:])
    pos = 0
    for statement in statements:
        s = dict(statement)
        found = statement_evidence(s, page_of)
        s["supported"], s["problem"] = found.supported, found.problem
        s["evidence"] = found.sentence
        checked.append(s)
        if s.get("kind") != "prose":
            continue
        labels = [] if s["supported"] else [f"unverified: {found.problem}"]
        if s.get("rejected") and s.get("cites"):  # (without a cite left, the problem says so)
            labels.append(f"citation rejected: {', '.join(s['rejected'])} is no page fetched in this run")
        at = body.find(s["raw"], pos)
        if at < 0:  # not where expected (a repeated sentence): leave the text, the record has it
            continue
        end = at + len(s["raw"])
        label = "".join(f" ({label})" for label in labels)
        body = body[:end] + label + body[end:]
        pos = end + len(label)
    return body + tail, checked
