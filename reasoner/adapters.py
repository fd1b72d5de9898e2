"""LoRA adapters on the base checkpoint: create a fresh one, check one before serving."""

from __future__ import annotations

import json
from pathlib import Path

from reasoner.errors import AdapterError, MissingExtra

__all__ = ["DEFAULT_TARGET_MODULES", "check_adapter", "init_adapter"]

# Attention and MLP projections of Gemma 3; the embedding and LM head (262k rows)
# stay frozen, which is what keeps a LoRA on this model small.
DEFAULT_TARGET_MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def init_adapter(base_path: Path, out_dir: Path, *, rank: int = 8, alpha: int = 16, seed: int = 0) -> Path:
    """Save a freshly initialised (untrained) LoRA adapter for `base_path` into `out_dir`."""
    try:
        import torch
        from peft import LoraConfig, get_peft_model
        from transformers import AutoModelForCausalLM
    except ImportError as exc:
        raise MissingExtra("train", exc.name or "peft") from None
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(str(base_path), dtype=torch.float32)
    peft_model = get_peft_model(model, LoraConfig(r=rank, lora_alpha=alpha, target_modules=DEFAULT_TARGET_MODULES,
                                                  lora_dropout=0.0, task_type="CAUSAL_LM"))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    peft_model.save_pretrained(str(out_dir))
    return out_dir


def check_adapter(path: Path) -> dict:
    """The adapter's config, or a clear error when the directory is not a usable adapter."""
    path = Path(path)
    cfg_path = path / "adapter_config.json"
    try:
        config = json.loads(cfg_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AdapterError(f"{path} is not a LoRA adapter: adapter_config.json is missing") from None
    except ValueError as exc:
        raise AdapterError(f"{cfg_path} is damaged: {exc}") from None
    weights = [p for p in (path / "adapter_model.safetensors", path / "adapter_model.bin") if p.exists()]
    if not weights:
        raise AdapterError(f"{path} is not a LoRA adapter: no adapter_model.safetensors")
    if weights[0].suffix == ".safetensors":
        try:
            from safetensors import SafetensorError, safe_open
        except ImportError:
            raise MissingExtra("train", "safetensors") from None
        try:
            with safe_open(str(weights[0]), framework="pt") as f:
                names = list(f.keys())
        except (SafetensorError, OSError) as exc:
            raise AdapterError(f"{weights[0]} is truncated or damaged: {exc}") from None
        if not names:
            raise AdapterError(f"{weights[0]} holds no tensors")
    return config
