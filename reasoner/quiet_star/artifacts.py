"""What a run leaves in its output directory, and loading it back.

    quiet-star.json         the config (overrides included)
    adapter/ or model/      the LoRA (trainable='lora') or the whole fine-tuned model, fp32 ('full')
    quiet_star.safetensors  the two thought-token embeddings (as used) and the mixing head
    metrics.json            config, per-step history, evaluation; loss.png and report.md beside it
    deepstar-train.json     written last: the run is finished
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from reasoner.errors import ModelNotPrepared
from reasoner.quiet_star.config import QuietStarConfig
from reasoner.quiet_star.model import QuietStar, wrap_model
from reasoner.train import TRAIN_MARKER, _resolve_device, resolve_dtype

__all__ = ["CONFIG_FILE", "METRICS_FILE", "WEIGHTS_FILE", "load_base_lm", "load_metrics", "load_quiet_star", "save_weights"]

CONFIG_FILE = "quiet-star.json"
WEIGHTS_FILE = "quiet_star.safetensors"
METRICS_FILE = "metrics.json"


def save_weights(model: QuietStar, out: Path) -> None:
    """The trained weights: the adapter or the whole model, then the thought weights."""
    from safetensors.torch import save_file

    if hasattr(model.lm, "peft_config"):
        model.lm.save_pretrained(str(out / "adapter"))
    else:  # fp32 master weights: at lr 1e-6 a bf16 copy would round most of the training away
        model.lm.save_pretrained(str(out / "model"))
    save_file(model.trainable_state(), str(out / WEIGHTS_FILE))


def load_base_lm(path: str | Path, device: torch.device, *, dtype: torch.dtype) -> nn.Module:
    """A plain Hugging Face causal LM from a checkpoint directory (eager attention: the
    thought masks are additive tensors)."""
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(path), dtype=dtype, attn_implementation="eager").to(device)


def load_quiet_star(out_dir: str | Path, *, base_model: str | None = None, device: str = "cpu",
                    dtype: str = "auto") -> tuple[QuietStar, Any, QuietStarConfig]:
    """(model, tokenizer with the thought tokens, config) of a finished run."""
    from safetensors.torch import load_file
    from transformers import AutoTokenizer

    out = Path(out_dir)
    if not (out / TRAIN_MARKER).is_file():
        raise ModelNotPrepared(f"{out} is not a finished Quiet-STaR run (no {TRAIN_MARKER}): train it with "
                               f"`deepstar quiet-star train --out {out}`")
    config = QuietStarConfig.from_stored(json.loads((out / CONFIG_FILE).read_text(encoding="utf-8")))
    base = Path(base_model or config.base_model)
    if not (base / "config.json").is_file():
        raise ModelNotPrepared(f"the base model {base} of {out} is missing: prepare it, or pass base_model")
    dev = _resolve_device(device)
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    if (out / "adapter").is_dir():
        from peft import PeftModel

        lm: nn.Module = PeftModel.from_pretrained(load_base_lm(base, dev, dtype=resolve_dtype(dtype, dev)),
                                                  str(out / "adapter"))
    else:
        lm = load_base_lm(out / "model", dev, dtype=resolve_dtype(dtype, dev))
    model = wrap_model(lm, tokenizer, config)
    model.load_trainable_state(load_file(str(out / WEIGHTS_FILE)))
    model.to(dev).eval()
    return model, tokenizer, config


def load_metrics(run: str | Path) -> dict[str, Any]:
    """metrics.json of a finished run; a clear error for a directory that is not one."""
    path = Path(run) / METRICS_FILE
    if not (Path(run) / TRAIN_MARKER).is_file() or not path.is_file():
        raise ModelNotPrepared(f"{run} is not a finished Quiet-STaR run (no {TRAIN_MARKER} or {METRICS_FILE}): "
                               f"pass the --out directory of a `deepstar quiet-star train` that completed")
    return json.loads(path.read_text(encoding="utf-8"))
