"""The decode bound: bytes of weights per token from checkpoint headers, and a bandwidth probe."""

from __future__ import annotations

import json
import struct

import pytest

from evals.bench_memory import decode_bound, read_bandwidth, weight_bytes_per_token


def _safetensors(path, shapes: dict[str, list[int]]) -> None:
    header, offset = {}, 0
    for name, shape in shapes.items():
        n = 1
        for d in shape:
            n *= d
        header[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [offset, offset + 2 * n]}
        offset += 2 * n
    header["__metadata__"] = {"format": "pt"}
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * offset)


def test_bytes_per_token_count_every_weight_once(tmp_path):
    # a tied embedding (stored once, read by the LM head) and two layers
    _safetensors(tmp_path / "model.safetensors", {"embed.weight": [1000, 64], "l0.q": [64, 64], "l0.norm": [64]})
    bf16 = weight_bytes_per_token(tmp_path, "bf16")
    assert bf16["parameters"] == 64000 + 4096 + 64 and bf16["bytes_per_token"] == 2 * bf16["parameters"]
    assert bf16["largest_table"] == 64000 and bf16["largest_table_share"] == pytest.approx(64000 / 68160, abs=1e-3)
    assert weight_bytes_per_token(tmp_path, "fp32")["bytes_per_token"] == 4 * bf16["parameters"]
    with pytest.raises(FileNotFoundError):
        weight_bytes_per_token(tmp_path / "missing", "bf16")


def test_the_bound_is_bandwidth_over_bytes():
    assert decode_bound(10.0, 500_000_000) == pytest.approx(20.0)


def test_read_bandwidth_measures_something_plausible():
    r = read_bandwidth(64 * 2**20, repeats=3, threads=1)
    assert 0.1 < r["gb_per_s"] < 10_000 and r["threads"] == 1 and r["buffer_mb"] == 67
