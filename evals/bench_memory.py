"""The physical limit of single-stream decoding on a CPU: memory bandwidth over the bytes
of weights read per generated token.

A decode step of a dense model reads every weight once (the batch shares the read), so one
request cannot go faster than `bandwidth / bytes_per_token` tokens per second. For Gemma 3
270M the 262,144 x 640 embedding table dominates: tied to the LM head, it is read whole at
every step to score the vocabulary, while the embedding lookup itself reads one row.

`read_bandwidth` is a small STREAM-like read (a sum over a float32 buffer) with torch on all
the cores this process may use. The buffer is as large as the weights a step reads, so the
measurement sees the same working set as decoding: where a large last-level cache holds part
of the weights (480 MiB of L3 on some cloud Xeons), it helps both alike.
"""

from __future__ import annotations

import json
import os
import struct
import time
from pathlib import Path
from typing import Any

__all__ = ["decode_bound", "read_bandwidth", "weight_bytes_per_token"]

_DTYPE_BYTES = {"bf16": 2, "fp16": 2, "fp32": 4}


def read_bandwidth(nbytes: int, *, repeats: int = 7, threads: int | None = None) -> dict[str, Any]:
    """Best-of-`repeats` read bandwidth in GB/s (1e9 bytes/s): a sum over a buffer of `nbytes`,
    on `threads` threads (default: every core this process may use)."""
    import torch

    previous = torch.get_num_threads()
    n_threads = threads or len(os.sched_getaffinity(0))
    torch.set_num_threads(n_threads)
    try:
        buf = torch.ones(max(1, nbytes // 4), dtype=torch.float32)
        buf.sum()  # fault the pages in before timing
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            buf.sum()
            best = min(best, time.perf_counter() - t0)
    finally:
        torch.set_num_threads(previous)
    read = buf.numel() * 4
    return {"gb_per_s": round(read / best / 1e9, 2), "buffer_mb": round(read / 1e6), "threads": n_threads,
            "best_s": round(best, 5)}


def _safetensors_params(model_dir: Path) -> tuple[int, int]:
    """(all parameter elements, elements of the largest 2-D table) from the checkpoint headers."""
    total, largest = 0, 0
    files = sorted(Path(model_dir).glob("*.safetensors"))
    if not files:
        raise FileNotFoundError(f"no *.safetensors in {model_dir}")
    for path in files:
        with path.open("rb") as f:
            (size,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(size))
        for name, meta in header.items():
            if name == "__metadata__":
                continue
            n = 1
            for d in meta["shape"]:
                n *= d
            total += n
            if len(meta["shape"]) == 2:
                largest = max(largest, n)
    return total, largest


def weight_bytes_per_token(model_dir: Path, dtype: str) -> dict[str, Any]:
    """Bytes of weights one decode step reads. A tied embedding is stored once and read once
    (by the LM head); an untied LM head is a tensor of its own and counted as such."""
    params, table = _safetensors_params(model_dir)
    width = _DTYPE_BYTES[dtype]
    return {"parameters": params, "largest_table": table, "dtype": dtype, "bytes_per_token": params * width,
            "largest_table_share": round(table / params, 3)}


def decode_bound(bandwidth_gb_s: float, bytes_per_token: int) -> float:
    """Single-stream decode tokens/s if the weights stream at the copy bandwidth."""
    return bandwidth_gb_s * 1e9 / bytes_per_token
