"""Training throughput: LoRA SFT of the bundled model on synthetic research trajectories,
and where CUDA is available a bf16 full fine-tune step loop with its MFU.

FLOPs counted:
- LoRA on a frozen base (the CPU run): forward 2·N and backward through the activations
  2·N per token for the N transformer-body parameters (no weight gradients for frozen
  weights), plus 4·V·H for the LM head on the trained tokens only (the head runs there
  alone); LoRA's own matmuls and attention's quadratic term are left out, so the figure
  is a slight undercount.
- Full fine-tune (the GPU run): the usual 6 · parameters · tokens, the tied embedding
  counted once (it stands for the LM-head matmul); attention's quadratic term left out.
"""

from __future__ import annotations

import os
import platform
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reasoner.train import SFTConfig, encode_conversation, resolve_dtype, train_sft

__all__ = ["GPU_PEAK_BF16", "bench_gpu_train", "bench_train", "gpu_peak_bf16", "synthetic_conversations"]

# Dense bf16 tensor-core peaks (no sparsity), most specific name first.
GPU_PEAK_BF16: list[tuple[str, float]] = [
    ("H100 PCIe", 756e12),
    ("H100 NVL", 835e12),
    ("H200", 989e12),
    ("H100", 989e12),  # SXM
    ("A100", 312e12),
]

SYSTEM = ("You are a meticulous research assistant. Answer the user's question by searching the web, "
          "opening the most relevant pages and finding the passages that support each claim. Cite every "
          "claim with the URL it comes from. When the evidence is sufficient, call `answer` with a short "
          "answer; never guess.")

TOOLS = [
    {"type": "function", "function": {"name": "search", "description": "Search the web; returns titles, URLs and snippets.",
                                      "parameters": {"type": "object", "properties": {"query": {"type": "string", "description": "search terms"}},
                                                     "required": ["query"]}}},
    {"type": "function", "function": {"name": "open", "description": "Open a URL and return the page text, paginated.",
                                      "parameters": {"type": "object", "properties": {"url": {"type": "string"}, "page": {"type": "integer"}},
                                                     "required": ["url"]}}},
    {"type": "function", "function": {"name": "find", "description": "Find a phrase in the last opened page.",
                                      "parameters": {"type": "object", "properties": {"pattern": {"type": "string"}},
                                                     "required": ["pattern"]}}},
    {"type": "function", "function": {"name": "answer", "description": "Give the final answer with its sources.",
                                      "parameters": {"type": "object", "properties": {"answer": {"type": "string"},
                                                                                      "sources": {"type": "array", "items": {"type": "string"}}},
                                                     "required": ["answer", "sources"]}}},
]

WORDS = ("river empire century treaty dynasty capital island language population mountain temple "
         "emperor coast trade railway university science theory planet orbit element reaction museum "
         "painting composer symphony novel poet war battle alliance republic parliament election "
         "province harbour bridge cathedral festival harvest climate desert forest glacier volcano "
         "species mammal bird ocean current migration engine invention patent factory railway colony "
         "revolution constitution reform economy currency bank market merchant guild").split()


def _sentence(rnd: random.Random) -> str:
    words = [rnd.choice(WORDS) for _ in range(rnd.randint(8, 18))]
    year = rnd.randint(1200, 2020)
    return f"In {year} the {' '.join(words[:3])} {' '.join(words[3:])}.".capitalize()


def _call(name: str, args: dict[str, Any], n: int) -> dict[str, Any]:
    return {"role": "assistant", "content": "",
            "tool_calls": [{"id": f"call_{n}", "type": "function", "function": {"name": name, "arguments": args}}]}


def synthetic_conversations(tokenizer: Any, n: int, *, target_tokens: int = 1500, seed: int = 0) -> list[dict[str, Any]]:
    """`n` trajectories of about `target_tokens` tokens each: system + tools, a question,
    then short calls (search, open, find) and long tool results, closed by `answer`."""
    rnd = random.Random(seed)
    records = []
    for i in range(n):
        topic = " ".join(rnd.sample(WORDS, 2))
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": f"Question {i}: when was the {topic} first recorded, and by whom?"},
        ]
        turn = 0
        while len(encode_conversation(tokenizer, messages, TOOLS)[0]) < target_tokens - 120:
            kind = ("search", "open", "find")[turn % 3]
            url = f"https://en.wikipedia.org/wiki/{rnd.choice(WORDS).title()}_{rnd.choice(WORDS)}"
            if kind == "search":
                args: dict[str, Any] = {"query": f"{topic} {rnd.choice(WORDS)} history"}
                result = "\n".join(f"[{k}] {rnd.choice(WORDS).title()} — {url}{k}\n{_sentence(rnd)}" for k in range(1, 5))
            elif kind == "open":
                args = {"url": url}
                result = f"# {rnd.choice(WORDS).title()}\n" + " ".join(_sentence(rnd) for _ in range(8))
            else:
                args = {"pattern": rnd.choice(WORDS)}
                result = " … ".join(_sentence(rnd) for _ in range(3))
            messages += [_call(kind, args, turn), {"role": "tool", "tool_call_id": f"call_{turn}", "content": result}]
            turn += 1
        messages.append(_call("answer", {"answer": f"In {rnd.randint(1200, 2020)}, by the {topic} society.",
                                         "sources": [f"https://en.wikipedia.org/wiki/{topic.replace(' ', '_')}"]}, turn))
        records.append({"messages": messages, "tools": TOOLS})
    return records


def cpu_info() -> dict[str, Any]:
    import torch

    get = getattr(torch.cpu, "get_capabilities", None)
    caps = get() if get else {}
    name = caps.get("cpu_name") or platform.processor() or platform.machine()
    return {"cpu": name, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "avx512_bf16": bool(caps.get("avx512_bf16")), "amx_bf16": bool(caps.get("amx_bf16"))}


def bench_train(base: Path, *, steps: int = 10, conversations: int = 8, target_tokens: int = 1500,
                batch_tokens: int = 4096, dtype: str = "auto", seed: int = 0,
                progress: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """LoRA SFT throughput on the CPU (or whatever `device='auto'` picks)."""
    import torch
    from transformers import AutoConfig, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(base))
    records = synthetic_conversations(tokenizer, conversations, target_tokens=target_tokens, seed=seed)
    lengths = [len(encode_conversation(tokenizer, r["messages"], r["tools"])[0]) for r in records]
    events: list[dict[str, Any]] = []

    def collect(event: dict[str, Any]) -> None:
        events.append(event)
        if progress:
            progress(event)

    with tempfile.TemporaryDirectory(prefix="deepstar-bench-train-") as out:
        cfg = SFTConfig(base_model=str(base), output_dir=out, max_steps=steps, batch_tokens=batch_tokens,
                        max_seq_len=min(batch_tokens, max(lengths)), log_every=1, dtype=dtype, seed=seed)
        result = train_sft(cfg, records, progress=collect)
    elapsed = [e["elapsed_s"] for e in events if e["event"] == "step"]
    step_times = [b - a for a, b in zip([0.0, *elapsed], elapsed, strict=False)]
    steady = step_times[1:] or step_times  # the first step also builds the CPU kernels

    mc = AutoConfig.from_pretrained(str(base))
    hidden, vocab = mc.hidden_size, mc.vocab_size
    layers = mc.num_hidden_layers
    per_layer = (hidden * (mc.num_attention_heads + 2 * mc.num_key_value_heads) * mc.head_dim  # q, k, v
                 + mc.num_attention_heads * mc.head_dim * hidden                               # o
                 + 3 * hidden * mc.intermediate_size)                                         # gate, up, down
    flops = 4 * layers * per_layer * result.total_tokens + 4 * vocab * hidden * result.trained_tokens
    device = "cuda" if torch.cuda.is_available() else "cpu"
    return {
        "benchmark": "train", "mode": "lora-sft", "machine": cpu_info(), "device": device,
        "dtype": str(resolve_dtype(dtype, torch.device(device))).removeprefix("torch."),
        "steps": steps, "conversations": conversations, "tokens_per_conversation": round(statistics.mean(lengths)),
        "batch_tokens": batch_tokens, "lora_rank": cfg.lora_rank,
        "total_tokens": result.total_tokens, "trained_tokens": result.trained_tokens,
        "tokens_per_s": round(result.tokens_per_s, 2), "trained_tokens_per_s": round(result.trained_tokens_per_s, 2),
        "step_s_mean": round(result.train_s / steps, 3), "step_s_median_after_first": round(statistics.median(steady), 3),
        "first_step_s": round(step_times[0], 3), "final_loss": round(result.final_loss, 4),
        "approx_gflop_per_s": round(flops / result.train_s / 1e9, 1), "train_s": round(result.train_s, 3),
        "wall_s": round(result.wall_s, 3),
    }


def gpu_peak_bf16(device_name: str) -> float | None:
    return next((peak for key, peak in GPU_PEAK_BF16 if key.lower() in device_name.lower()), None)


def bench_gpu_train(base: Path, *, steps: int = 10, warmup: int = 3, batch: int = 8, seq_len: int = 1024) -> dict[str, Any]:
    """bf16 (autocast, fp32 master weights) full fine-tune of a randomly initialised model
    with the base's architecture: tokens/s and MFU against the GPU's dense bf16 peak."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(str(base))
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config).to("cuda").train()  # no weights needed for speed
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    ids = torch.randint(0, config.vocab_size, (batch, seq_len), device="cuda")
    params = sum(p.numel() for p in model.parameters())

    def step() -> None:
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(warmup):
        step()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    tokens_per_s = batch * seq_len * steps / seconds
    name = torch.cuda.get_device_name()
    peak = gpu_peak_bf16(name)
    achieved = 6 * params * tokens_per_s
    return {"mode": "full-finetune-bf16", "gpu": name, "params": params, "batch": batch, "seq_len": seq_len,
            "steps": steps, "step_s": round(seconds / steps, 4), "tokens_per_s": round(tokens_per_s, 1),
            "tflop_per_s": round(achieved / 1e12, 2), "peak_tflop_per_s": peak and peak / 1e12,
            "mfu": round(achieved / peak, 4) if peak else None}
