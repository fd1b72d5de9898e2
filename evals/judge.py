"""An optional LLM judge: does a predicted answer mean the same as the gold answer?

The chat function is injected (`Judge(chat_fn=client.chat, ...)`): an async callable
`(messages) -> str`. Verdicts are cached in SQLite keyed by (question, gold, prediction,
prompt hash), so re-scoring a dataset asks the model only about new predictions.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from importlib import resources
from pathlib import Path

__all__ = ["Judge", "load_prompt", "parse_verdict"]

ChatFn = Callable[[list[dict]], Awaitable[str]]


def load_prompt() -> str:
    return resources.files("evals.prompts").joinpath("judge.txt").read_text(encoding="utf-8")


def parse_verdict(text: str) -> bool | None:
    """yes -> True, no -> False, None if the reply says neither clearly."""
    text = re.sub(r"<think>.*?(?:</think>|$)", " ", text or "", flags=re.S | re.I).lower()
    m = re.search(r"verdict\W*(yes|no|correct|incorrect)\b", text)
    if m:
        return m[1] in ("yes", "correct")
    words = set(re.findall(r"\b(yes|no|correct|incorrect)\b", text))
    positive, negative = words & {"yes", "correct"}, words & {"no", "incorrect"}
    if positive and not negative:
        return True
    if negative and not positive:
        return False
    return None


class Judge:
    def __init__(self, chat_fn: ChatFn, cache_path: str | Path, prompt: str | None = None) -> None:
        self.chat_fn = chat_fn
        self.prompt = prompt if prompt is not None else load_prompt()
        self.prompt_hash = hashlib.sha256(self.prompt.encode()).hexdigest()[:16]
        self.cache_path = Path(cache_path)
        self.cache_path.parent.mkdir(parents=True, exist_ok=True)
        db = self._connect()
        try:
            with db:
                db.execute("CREATE TABLE IF NOT EXISTS judgments (key TEXT PRIMARY KEY, verdict INTEGER, reply TEXT)")
        finally:
            db.close()

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.cache_path)

    def _key(self, question: str, gold: Sequence[str], prediction: str) -> str:
        blob = json.dumps([question, list(gold), prediction, self.prompt_hash], ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()

    async def __call__(self, question: str, gold: Sequence[str], prediction: str) -> bool | None:
        """True/False, or None when the reply could not be parsed (not cached, so retried)."""
        key = self._key(question, gold, prediction)
        db = self._connect()
        try:
            row = db.execute("SELECT verdict FROM judgments WHERE key = ?", (key,)).fetchone()
        finally:
            db.close()
        if row is not None:
            return bool(row[0])
        content = self.prompt.format(question=question, gold=" | ".join(gold), prediction=prediction)
        reply = await self.chat_fn([{"role": "user", "content": content}])
        verdict = parse_verdict(reply)
        if verdict is not None:
            db = self._connect()
            try:
                with db:
                    db.execute("INSERT OR REPLACE INTO judgments VALUES (?, ?, ?)", (key, int(verdict), reply))
            finally:
                db.close()
        return verdict
