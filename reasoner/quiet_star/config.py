"""The one config of a Quiet-STaR run, and the two weightings it can start from.

The defaults are the official implementation's settings (ezelikman/quiet-star): the policy
loss weighted 1e6, negative rewards clamped to 0, the policy's log-probabilities taken at
temperature 3, the thought embeddings scaled by 100, thoughts at every position, both
thought-token embeddings started from `---`, 12 thought tokens counting the start and end
markers, 4 true tokens ahead, 2 thoughts ("passes") per position, the whole model trained
at 1e-6. `weighting="legacy"` is what deepstar trained before (LoRA at 1e-4, policy weight
1, no clamp, no temperature, no scale, 16 positions, newline end-of-thought init), kept for
the side-by-side comparison.

A CPU cannot afford every setting (every position of a long chunk, 100k steps): a field set
away from its preset is listed in `overrides` ({name: {"preset": ..., "used": ...}}), which
is stored with the rest of the config, so every run says where it departs from the paper.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import Any

__all__ = ["PRESETS", "QuietStarConfig"]

# The fields a weighting sets. The dataclass defaults below are the "official" preset.
PRESETS: dict[str, dict[str, Any]] = {
    "official": {
        "policy_loss_beta": 1e6, "remove_negative_rewards": True, "reinforce_temperature": 3.0,
        "embedding_scale": 100.0, "thought_logprob_reduction": "mean", "positions": 0,
        "start_thought_init": "---", "end_thought_init": "---", "thought_len": 10, "n_ahead": 4, "n_thoughts": 2,
        "trainable": "full", "learning_rate": 1e-6, "embedding_lr": 1e-6, "mixer_lr": 1e-6,
        "warmup_steps": 20, "weight_decay": 0.001,
    },
    "legacy": {
        "policy_loss_beta": 1.0, "remove_negative_rewards": False, "reinforce_temperature": 0.0,
        "embedding_scale": 1.0, "thought_logprob_reduction": "sum", "positions": 16,
        "start_thought_init": "---", "end_thought_init": "\n", "thought_len": 8, "n_ahead": 4, "n_thoughts": 2,
        "trainable": "lora", "learning_rate": 1e-4, "embedding_lr": 1e-3, "mixer_lr": 1e-3,
        "warmup_steps": 0, "weight_decay": 0.0,
    },
}


@dataclass
class QuietStarConfig:
    """Everything that determines a Quiet-STaR run; stored whole in every artifact."""

    base_model: str = field(metadata={"help": "Directory of the base Hugging Face checkpoint (the prepared bundled model)."})
    output_dir: str = field(metadata={"help": "Where the weights, the thought embeddings, metrics and plots are written."})
    weighting: str = field(default="official", metadata={"help": "The preset the other defaults come from: 'official' (the paper's "
                                                                   "implementation) or 'legacy' (deepstar's earlier weighting). "
                                                                   "Build a non-default one with QuietStarConfig.preset()."})
    max_steps: int = field(default=200, metadata={"help": "Optimizer steps (one batch of text chunks each)."})
    seq_len: int = field(default=64, metadata={"help": "Tokens per text chunk (the first seq_len tokens of an article; shorter articles are skipped)."})
    batch_size: int = field(default=1, metadata={"help": "Text chunks per step."})
    thought_len: int = field(default=10, metadata={"help": "Sampled thought tokens between <|startthought|> and <|endthought|> "
                                                           "(official: 10, i.e. 12 counting the two markers)."})
    n_ahead: int = field(default=4, metadata={"help": "True tokens after the thought whose teacher-forced likelihood scores it (official: 4)."})
    n_thoughts: int = field(default=2, metadata={"help": "Thoughts sampled per position, the official 'n_passes'; their mean reward "
                                                         "is the REINFORCE baseline (>= 2)."})
    positions: int = field(default=0, metadata={"help": "Positions per chunk that get thoughts, drawn at random each step; 0 = every "
                                                        "position (official). The 262k-row LM head at every thought token dominates "
                                                        "the cost, so a CPU run thinks at a subset."})
    thought_temperature: float = field(default=1.0, metadata={"help": "Sampling temperature of the thought tokens (0 = greedy)."})
    policy_loss_beta: float = field(default=1e6, metadata={"help": "Weight of the REINFORCE loss on the thought tokens (official: 1e6; "
                                                                   "rewards are differences of a few hundredths of a nat)."})
    remove_negative_rewards: bool = field(default=True, metadata={"help": "Clamp the baselined reward at 0, so only thoughts better than "
                                                                          "their position's mean are reinforced (official: on)."})
    reinforce_temperature: float = field(default=3.0, metadata={"help": "The policy's log-probability of a thought token is taken from "
                                                                        "logits / this (official: 3); 0 = the sampling distribution."})
    thought_logprob_reduction: str = field(default="mean", metadata={"help": "How a thought's token log-probabilities combine in the "
                                                                             "policy loss: 'mean' (official) or 'sum' (legacy)."})
    embedding_scale: float = field(default=100.0, metadata={"help": "The thought-token embeddings are stored divided by this and used "
                                                                    "multiplied by it, so Adam moves them this many times faster "
                                                                    "than their learning rate says (official: 100)."})
    start_thought_init: str = field(default="---", metadata={"help": "Text whose first token's embedding starts <|startthought|>."})
    end_thought_init: str = field(default="---", metadata={"help": "Text whose first token's embedding starts <|endthought|> (official: "
                                                                   "'---' as the start; legacy: a newline)."})
    trainable: str = field(default="full", metadata={"help": "What trains besides the thought embeddings and the mixing head: 'full' "
                                                             "(every weight of the model, fp32 master weights; official) or 'lora'."})
    lora_rank: int = field(default=8, metadata={"help": "LoRA rank of the attention and MLP projections (trainable='lora' only)."})
    lora_alpha: int = field(default=16, metadata={"help": "LoRA alpha; the update is scaled by alpha / r (trainable='lora' only)."})
    learning_rate: float = field(default=1e-6, metadata={"help": "Learning rate of the model's weights (official: 1e-6 for the whole "
                                                                 "model; legacy: 1e-4 for the LoRA)."})
    embedding_lr: float = field(default=1e-6, metadata={"help": "Learning rate of the two stored thought-token embeddings (before "
                                                                "embedding_scale; official: the model's 1e-6)."})
    mixer_lr: float = field(default=1e-6, metadata={"help": "Learning rate of the mixing head (official: the model's 1e-6)."})
    warmup_steps: int = field(default=20, metadata={"help": "Linear learning-rate warm-up over this many steps (official: 20)."})
    weight_decay: float = field(default=0.001, metadata={"help": "AdamW weight decay (official: 0.001)."})
    mixer_hidden: int = field(default=256, metadata={"help": "Hidden width of the mixing head's MLP."})
    mixer_init: float = field(default=-2.0, metadata={"help": "Initial bias of the mixing head's output (sigmoid(-2) = 0.12: start mostly on the base prediction)."})
    base_loss_weight: float = field(default=1.0, metadata={"help": "Weight of the plain LM loss on the text (trained jointly)."})
    max_grad_norm: float = field(default=1.0, metadata={"help": "Clip the gradient norm to this; 0 disables clipping."})
    eval_chunks: int = field(default=40, metadata={"help": "Held-out chunks scored by evaluate() at the end of training (0 = none)."})
    seed: int = field(default=0, metadata={"help": "Seeds the head initialisation, the data order, positions and thought sampling."})
    dtype: str = field(default="auto", metadata={"help": "'auto' (bf16 where the hardware has it, else fp32), 'bf16' or 'fp32': the compute dtype."})
    device: str = field(default="auto", metadata={"help": "'auto' (cuda if available, else cpu), 'cpu', 'cuda' or 'cuda:N'."})
    log_every: int = field(default=10, metadata={"help": "Report the step's losses, rewards and tokens/s every this many steps (and at the last)."})
    extra: dict = field(default_factory=dict, metadata={"help": "Free-form provenance stored as is (corpus hash, held-out rule); JSON-serialisable."})
    overrides: dict = field(default_factory=dict, metadata={"help": "Computed, not set: the fields that differ from the `weighting` "
                                                                     "preset, {name: {preset, used}} (e.g. scaled down for a CPU)."})

    @classmethod
    def preset(cls, weighting: str, **values: Any) -> QuietStarConfig:
        """A config of `weighting`'s settings with `values` on top (None values are ignored)."""
        if weighting not in PRESETS:
            raise ValueError(f"weighting must be one of {', '.join(PRESETS)}, got {weighting!r}")
        given = {k: v for k, v in values.items() if v is not None}
        return cls(**{**PRESETS[weighting], **given, "weighting": weighting})

    @classmethod
    def from_stored(cls, data: dict[str, Any]) -> QuietStarConfig:
        """The config of a stored quiet-star.json; one written before `weighting` existed is a
        legacy run (its policy weight was called reinforce_weight)."""
        data = dict(data)
        data.pop("overrides", None)
        if "weighting" not in data:
            if "reinforce_weight" in data:
                data["policy_loss_beta"] = data.pop("reinforce_weight")
            data = {**PRESETS["legacy"], "trainable": "lora", **data, "weighting": "legacy"}
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def __post_init__(self) -> None:
        self.base_model, self.output_dir = str(self.base_model), str(self.output_dir)
        if not self.base_model.strip() or not self.output_dir.strip():
            raise ValueError("base_model and output_dir must be non-empty paths")
        if self.weighting not in PRESETS:
            raise ValueError(f"weighting must be one of {', '.join(PRESETS)}, got {self.weighting!r}")
        for name in ("max_steps", "batch_size", "thought_len", "n_ahead", "lora_rank", "lora_alpha", "mixer_hidden", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.n_thoughts < 2:
            raise ValueError(f"n_thoughts must be >= 2 (the baseline is their mean), got {self.n_thoughts}")
        if self.seq_len < self.n_ahead + 2:
            raise ValueError(f"seq_len ({self.seq_len}) must be at least n_ahead + 2 ({self.n_ahead + 2})")
        if not 0 <= self.positions <= self.seq_len - 1:
            raise ValueError(f"positions must be in [0, seq_len - 1 = {self.seq_len - 1}], got {self.positions}")
        for name in ("thought_temperature", "reinforce_temperature", "policy_loss_beta", "base_loss_weight",
                     "max_grad_norm", "weight_decay"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.eval_chunks < 0 or self.warmup_steps < 0:
            raise ValueError("eval_chunks and warmup_steps must be >= 0")
        if self.embedding_scale <= 0:
            raise ValueError(f"embedding_scale must be > 0, got {self.embedding_scale}")
        if self.thought_logprob_reduction not in ("mean", "sum"):
            raise ValueError(f"thought_logprob_reduction must be 'mean' or 'sum', got {self.thought_logprob_reduction!r}")
        if self.trainable not in ("full", "lora"):
            raise ValueError(f"trainable must be 'full' or 'lora', got {self.trainable!r}")
        if not self.start_thought_init or not self.end_thought_init:
            raise ValueError("start_thought_init and end_thought_init must be non-empty text")
        for name in ("learning_rate", "embedding_lr", "mixer_lr"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.dtype not in ("auto", "bf16", "fp32"):
            raise ValueError(f"dtype must be 'auto', 'bf16' or 'fp32', got {self.dtype!r}")
        if not (self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:")):
            raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {self.device!r}")
        try:
            json.dumps(self.extra)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"extra must be JSON-serialisable: {exc}") from None
        self.overrides = {name: {"preset": preset, "used": getattr(self, name)}
                          for name, preset in PRESETS[self.weighting].items() if getattr(self, name) != preset}
