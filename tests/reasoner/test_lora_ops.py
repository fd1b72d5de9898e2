"""The grouped LoRA ops the vLLM-CPU server loads (reasoner/vllm_site/deepstar_lora_ops.py)
compute what vLLM's reference torch ops compute, and the server's processes really get them."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

# the cpu extra (torch, vLLM): CI installs it, so its absence fails here rather than skips
import torch
from vllm.lora.ops.torch_ops import lora_ops

from reasoner.vllm_site import deepstar_lora_ops as grouped


def _reference(name):
    return getattr(lora_ops, f"reference_{name}", getattr(lora_ops, name))


CASES = {"one adapter": lambda n: torch.zeros(n, dtype=torch.long),
         "mixed, with -1 (no adapter)": lambda n: torch.tensor([(-1, 0, 1, 2)[i % 4] for i in range(n)]),
         "one token": lambda n: torch.tensor([1])}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("small_batch", [32, 0])  # the einsum path for a few rows, and the grouped one
def test_grouped_ops_equal_the_reference(case, dtype, small_batch, monkeypatch):
    monkeypatch.setattr(grouped, "SMALL_BATCH", small_batch)
    gen = torch.Generator().manual_seed(0)
    indices = CASES[case](37 if case != "one token" else 1)
    rows = indices.numel()
    a = torch.randn(4, 1, 8, 64, generator=gen, dtype=dtype)  # shrink: 4 slots, rank 8, in 64
    b = torch.randn(4, 1, 96, 8, generator=gen, dtype=dtype)  # expand: out 96
    x = torch.randn(rows, 64, generator=gen, dtype=dtype)
    h = torch.randn(rows, 8, generator=gen, dtype=torch.float32)
    for add in (False, True):
        want, got = torch.randn(rows, 8, generator=gen), None
        got = want.clone()
        _reference("bgmv_shrink")(x, a, want, indices, 0.5)
        grouped.bgmv_shrink(x, a, got, indices, 0.5)
        torch.testing.assert_close(got, want, rtol=2e-2, atol=2e-2)
        want = torch.randn(rows, 100, generator=gen, dtype=dtype)
        got = want.clone()
        _reference("bgmv_expand")(h, b, want, indices, add)
        grouped.bgmv_expand(h, b, got, indices, add)
        torch.testing.assert_close(got, want, rtol=2e-2, atol=2e-2)
        want = torch.randn(rows, 300, generator=gen, dtype=dtype)
        got = want.clone()
        _reference("bgmv_expand_slice")(h, b, want, indices, 100, 96, add)
        grouped.bgmv_expand_slice(h, b, got, indices, 100, 96, add)
        torch.testing.assert_close(got, want, rtol=2e-2, atol=2e-2)
    # 3-d stacks (no singleton axis) too
    want, got = torch.zeros(rows, 8), torch.zeros(rows, 8)
    _reference("bgmv_shrink")(x, a.squeeze(1), want, indices, 1.0)
    grouped.bgmv_shrink(x, a.squeeze(1), got, indices, 1.0)
    torch.testing.assert_close(got, want, rtol=2e-2, atol=2e-2)


def test_a_server_process_binds_the_grouped_ops():
    """A fresh interpreter with the server's PYTHONPATH: vLLM's CPU punica wrapper calls ours."""
    from reasoner.cpu import site_pythonpath

    code = ("import vllm.lora.ops.torch_ops as t, vllm.lora.punica_wrapper.punica_cpu as p, deepstar_lora_ops as g;"
            "print(t.bgmv_shrink is g.bgmv_shrink, p.bgmv_expand is g.bgmv_expand,"
            " p.sgmv_shrink.__globals__['bgmv_shrink'] is g.bgmv_shrink)")
    env = {**os.environ, "PYTHONPATH": site_pythonpath(os.environ.get("PYTHONPATH", ""))}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-3:] == ["True", "True", "True"], out.stdout
    env["DEEPSTAR_LORA_OPS"] = "reference"  # the switch back to vLLM's own ops
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.split()[-3:] == ["False", "False", "False"], out.stdout
