"""Text chunks: the first seq_len tokens of every text long enough to fill them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["chunk_texts"]


def chunk_texts(tokenizer: Any, texts: Sequence[str], seq_len: int) -> list[list[int]]:
    """The first seq_len tokens (after <bos>) of every text long enough to fill them."""
    chunks = []
    for text in texts:
        ids = tokenizer(text, add_special_tokens=True)["input_ids"]
        if len(ids) >= seq_len:
            chunks.append(list(ids[:seq_len]))
    return chunks
