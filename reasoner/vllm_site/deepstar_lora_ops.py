"""Grouped LoRA ops for vLLM's CPU LoRA path (`vllm.lora.ops.torch_ops.lora_ops`).

The reference `bgmv_*` ops index the stacked adapter weights with the per-token adapter
indices (`weights[indices]`: one (out, in) copy per token) and contract with einsum. On a
prefill chunk of 2,048 tokens that is 2,048 copies of every LoRA matrix of every layer,
and an adapter then served several times slower than the base model. These ops compute
the same products per distinct index (one matrix product each; with one adapter in use,
one for the whole batch) and write the output exactly as the reference ops do, index -1
(no adapter) included: it selects the last slot there, and here too.

`install()` swaps them into the module when it is imported (a post-import hook), so the
vLLM names that import them (`vllm.lora.ops.torch_ops`, the CPU punica wrapper) bind these.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys

TARGET = "vllm.lora.ops.torch_ops.lora_ops"
SMALL_BATCH = 32  # rows up to which the reference einsum is kept (decode steps)


def grouped_products(inputs, weights, indices, dtype):
    """out[b] = weights[indices[b]] @ inputs[b] for every row b (weights: (slots, [1,] out, in))."""
    import torch

    inputs = inputs.to(dtype=dtype)
    if weights.dim() == 4:
        weights = weights.squeeze(1)
    rows = inputs.shape[0]
    # a decode batch of a few rows: the reference einsum measured as fast (its copies are small);
    # a shape the reference handles by broadcasting: leave it to einsum too
    if rows <= SMALL_BATCH or indices.numel() != rows:
        return torch.einsum("bi, boi -> bo", inputs, weights[indices].to(dtype=dtype))
    linear = torch.nn.functional.linear  # x @ w.T without a transposed copy
    first = int(indices[0]) if rows else 0
    if rows == 0 or bool((indices == first).all()):
        return linear(inputs, weights[first].to(dtype=dtype))
    out = inputs.new_empty((rows, weights.shape[1]))
    for slot in torch.unique(indices).tolist():
        mask = indices == slot
        out[mask] = linear(inputs[mask], weights[slot].to(dtype=dtype))
    return out


def bgmv_expand(inputs, lora_b_weights, output_tensor, lora_indices_tensor, add_inputs=True):
    outputs = grouped_products(inputs, lora_b_weights, lora_indices_tensor, output_tensor.dtype)
    limit = output_tensor.shape[0]
    if outputs.shape[0] == 1 and output_tensor.shape[0] != 1:
        limit = 1
    common_len = min(outputs.shape[1], output_tensor.shape[1])
    if add_inputs:
        output_tensor[:, :common_len] += outputs[:limit, :common_len]
    else:
        output_tensor[:, :common_len] = outputs[:limit, :common_len]


def bgmv_shrink(inputs, lora_b_weights, output_tensor, lora_indices_tensor, scaling=1.0):
    outputs = grouped_products(inputs, lora_b_weights, lora_indices_tensor, output_tensor.dtype)
    output_tensor[:, : outputs.shape[1]] = scaling * outputs[:]


def bgmv_expand_slice(inputs, lora_b_weights, output_tensor, lora_indices_tensor, slice_offset, slice_size,
                      add_inputs=True):
    outputs = grouped_products(inputs, lora_b_weights, lora_indices_tensor, output_tensor.dtype)
    if add_inputs:
        output_tensor[:, slice_offset: slice_offset + slice_size] += outputs[:]
    else:
        output_tensor[:, slice_offset: slice_offset + slice_size] = outputs[:]


OPS = {"bgmv_expand": bgmv_expand, "bgmv_shrink": bgmv_shrink, "bgmv_expand_slice": bgmv_expand_slice}


def patch(module) -> None:
    """Replace the reference ops of `module` (the sgmv_* ops call these through its globals)."""
    for name, fn in OPS.items():
        if hasattr(module, name):
            setattr(module, f"reference_{name}", getattr(module, name))
            setattr(module, name, fn)
    module.DEEPSTAR_GROUPED = True


class _Loader(importlib.abc.Loader):
    def __init__(self, inner) -> None:
        self.inner = inner

    def create_module(self, spec):
        return self.inner.create_module(spec)

    def exec_module(self, module) -> None:
        self.inner.exec_module(module)
        patch(module)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname != TARGET:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return None
        spec.loader = _Loader(spec.loader)
        return spec


def install() -> None:
    if TARGET in sys.modules:
        patch(sys.modules[TARGET])
    elif not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
