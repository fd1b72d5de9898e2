"""Supervised fine-tuning of a LoRA adapter on research trajectories, top to bottom.

    records (OpenAI messages + tools)
      -> encode_conversation: deepstar's chat template, labels only on the model's turns
      -> length-bucketed micro-batches under a token budget (padding to the longest)
      -> frozen base + fresh LoRA; loss = cross-entropy on the labelled positions only,
         the LM head applied to those rows alone (the 262k-row head dominates this model)
      -> AdamW, linear warmup then cosine/linear decay, gradient accumulation
      -> output_dir: adapter_model.safetensors + adapter_config.json, then deepstar-train.json

Single process (what runs and is tested here):

    python -m reasoner.train --base_model PATH --output_dir DIR --max_steps 200 \\
        --dataset train.jsonl --batch_tokens 8192

Past one process (data parallel, the same code): under `torchrun` (or `accelerate
launch`, which sets the same environment) every rank builds the same micro-batch order
(same seed) and takes every world_size-th micro-batch of each step; gradients are summed
across ranks and the loss is normalised by the step's trained tokens on all ranks, so one
step equals the single-process step with `grad_accum * world_size` micro-batches; rank 0
saves the adapter and writes the marker. NCCL on GPUs, gloo on CPUs:

    torchrun --standalone --nproc_per_node 8 -m reasoner.train --base_model PATH --output_dir DIR \
        --max_steps 200 --dataset train.jsonl                       # one node, 8 GPUs
    torchrun --nnodes 2 --node_rank R --master_addr HOST --nproc_per_node 8 -m reasoner.train ...

The LoRA gradients are small, so summing them by all-reduce after backward is enough;
a base too big for one device would need FSDP sharding, which this file does not do.
"""

from __future__ import annotations

import json
import math
import os
import random
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from reasoner.adapters import DEFAULT_TARGET_MODULES
from reasoner.cpu import choose_dtype, detect_cpu
from reasoner.errors import MissingExtra, ModelNotPrepared
from reasoner.protocol import END_OF_TURN, is_invalid_turn, render_prompt

try:
    import torch
    import torch.nn.functional as F
except ImportError as exc:  # the training extra is optional; serving does not need torch
    raise MissingExtra("train", exc.name or "torch") from None

__all__ = [
    "IGNORE_INDEX",
    "TRAIN_MARKER",
    "SFTConfig",
    "TrainResult",
    "encode_conversation",
    "head_only_loss",
    "lr_at",
    "main",
    "make_batches",
    "resolve_dtype",
    "start_output",
    "train_sft",
]

IGNORE_INDEX = -100
# Written last into output_dir: its presence means the adapter next to it is complete.
TRAIN_MARKER = "deepstar-train.json"

Progress = Callable[[dict[str, Any]], None]


# --- configuration -------------------------------------------------------------------------

@dataclass
class SFTConfig:
    """Everything that determines a training run; stored whole in the marker file."""

    base_model: str = field(metadata={"help": "Directory of the base Hugging Face checkpoint (the prepared bundled model)."})
    output_dir: str = field(metadata={"help": "Where the adapter and deepstar-train.json are written."})
    max_steps: int = field(metadata={"help": "Number of optimizer steps (each = grad_accum micro-batches); the data is cycled if one epoch is shorter."})
    dataset: str | None = field(default=None, metadata={"help": "JSONL of records with `messages` and `tools`; read by main() only (train_sft takes records)."})
    lora_rank: int = field(default=16, metadata={"help": "LoRA rank r."})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA alpha; the update is scaled by alpha / r."})
    lora_dropout: float = field(default=0.0, metadata={"help": "Dropout on the LoRA input, in [0, 1)."})
    target_modules: list[str] = field(default_factory=lambda: list(DEFAULT_TARGET_MODULES),
                                      metadata={"help": "Module names that get a LoRA (Gemma 3 attention and MLP projections)."})
    learning_rate: float = field(default=2e-4, metadata={"help": "Peak learning rate, reached at the end of warmup."})
    min_lr_ratio: float = field(default=0.1, metadata={"help": "Final learning rate as a fraction of the peak, in [0, 1]."})
    lr_schedule: str = field(default="cosine", metadata={"help": "Decay after warmup: 'cosine' or 'linear'."})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay on the LoRA weights."})
    warmup_steps: int = field(default=0, metadata={"help": "Linear warmup steps, at most max_steps."})
    max_grad_norm: float = field(default=1.0, metadata={"help": "Clip the gradient norm to this; 0 disables clipping."})
    batch_tokens: int = field(default=4096, metadata={"help": "Token budget of one micro-batch, padding included (batch size x longest length)."})
    grad_accum: int = field(default=1, metadata={"help": "Micro-batches accumulated per optimizer step."})
    max_seq_len: int = field(default=3072, metadata={"help": "Longer conversations are dropped (and counted), never truncated: a cut trajectory teaches calls without their results."})
    seed: int = field(default=0, metadata={"help": "Seeds the LoRA initialisation, dropout and the data order."})
    dtype: str = field(default="auto", metadata={"help": "'auto' (bf16 on CUDA and on CPUs with native bf16, else fp32), 'bf16' or 'fp32'."})
    device: str = field(default="auto", metadata={"help": "'auto' (cuda if available, else cpu), 'cpu', 'cuda' or 'cuda:N'."})
    log_every: int = field(default=10, metadata={"help": "Report loss and tokens/s every this many optimizer steps (and at the last)."})
    iteration: int | None = field(default=None, metadata={"help": "STaR iteration that produced this adapter; stored in the artifacts."})
    extra: dict = field(default_factory=dict, metadata={"help": "Free-form provenance stored as is (base-model hash, seeds, dataset path); must be JSON-serialisable."})

    def __post_init__(self) -> None:
        self.base_model = str(self.base_model)
        self.output_dir = str(self.output_dir)
        if not self.base_model.strip():
            raise ValueError("base_model is empty: pass the checkpoint directory (e.g. the path ensure_model() returns)")
        if not self.output_dir.strip():
            raise ValueError("output_dir is empty: pass the directory the adapter should be written to")
        if self.max_steps <= 0:
            raise ValueError(f"max_steps must be > 0, got {self.max_steps}: set the number of optimizer steps to run")
        if self.lora_rank <= 0 or self.lora_alpha <= 0:
            raise ValueError(f"lora_rank and lora_alpha must be > 0, got {self.lora_rank} and {self.lora_alpha}")
        if not 0.0 <= self.lora_dropout < 1.0:
            raise ValueError(f"lora_dropout must be in [0, 1), got {self.lora_dropout}")
        if isinstance(self.target_modules, str) or not self.target_modules \
                or not all(isinstance(m, str) and m for m in self.target_modules):
            raise ValueError(f"target_modules must be a non-empty list of module names such as "
                             f"{DEFAULT_TARGET_MODULES}, got {self.target_modules!r}")
        self.target_modules = list(self.target_modules)
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate} (2e-4 is a usual LoRA value)")
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            raise ValueError(f"min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")
        if self.lr_schedule not in ("cosine", "linear"):
            raise ValueError(f"lr_schedule must be 'cosine' or 'linear', got {self.lr_schedule!r}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if not 0 <= self.warmup_steps <= self.max_steps:
            raise ValueError(f"warmup_steps must be in [0, max_steps={self.max_steps}], got {self.warmup_steps}")
        if self.max_grad_norm < 0:
            raise ValueError(f"max_grad_norm must be >= 0 (0 disables clipping), got {self.max_grad_norm}")
        if self.max_seq_len < 16:
            raise ValueError(f"max_seq_len must be >= 16, got {self.max_seq_len}")
        if self.batch_tokens < self.max_seq_len:
            raise ValueError(f"batch_tokens ({self.batch_tokens}) must be >= max_seq_len ({self.max_seq_len}) so the "
                             f"longest kept conversation fits one micro-batch: raise batch_tokens or lower max_seq_len")
        if self.grad_accum < 1:
            raise ValueError(f"grad_accum must be >= 1, got {self.grad_accum}")
        if self.dtype not in ("auto", "bf16", "fp32"):
            raise ValueError(f"dtype must be 'auto', 'bf16' or 'fp32', got {self.dtype!r}")
        if not (self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:")):
            raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {self.device!r}")
        if self.log_every < 1:
            raise ValueError(f"log_every must be >= 1, got {self.log_every}")
        if self.iteration is not None and self.iteration < 0:
            raise ValueError(f"iteration must be >= 0 or None, got {self.iteration}")
        try:
            json.dumps(self.extra)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"extra must be JSON-serialisable (it is stored in {TRAIN_MARKER}): {exc}") from None


@dataclass
class TrainResult:
    adapter_dir: Path
    steps: int
    trained_tokens: int          # labelled tokens seen (the model's own turns)
    total_tokens: int            # real tokens through the model, padding excluded
    tokens_per_s: float          # total_tokens / train_s
    trained_tokens_per_s: float  # trained_tokens / train_s
    final_loss: float
    losses: list[float]          # one per optimizer step
    train_s: float               # the optimizer loop alone
    wall_s: float                # everything: loading, encoding, training, saving
    dropped: dict[str, int]      # conversations left out, by reason


# --- data: labels on the model's own tokens ------------------------------------------------

def _canonical(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages whose tool-call arguments are objects: OpenAI's JSON strings are parsed, so
    they render as the same compact JSON as TRL's dicts and as constrained decoding emits."""
    out = []
    for message in messages:
        calls = message.get("tool_calls")
        if not calls:
            out.append(message)
            continue
        fixed = []
        for call in calls:
            fn = call.get("function", call)
            args = fn.get("arguments")
            if isinstance(args, str):
                try:
                    args = json.loads(args)
                except ValueError:
                    pass  # not JSON: rendered verbatim, as the model wrote it
            fn = {**fn, "arguments": args}
            fixed.append({**call, "function": fn} if "function" in call else fn)
        out.append({**message, "tool_calls": fixed})
    return out


def _assistant_spans(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> tuple[str, list[tuple[int, int]]]:
    """The rendered text and the character spans the model produced: each assistant turn's
    content and tool calls through its `<end_of_turn>` (the newline after it is template).
    An invalid output (one the planner answered with a corrective turn) stays in the text, as
    the model saw it, but gets no span: the model is not taught its mistakes."""
    text = render_prompt(messages, tools, add_generation_prompt=False)
    spans = []
    for i, message in enumerate(messages):
        if message.get("role") != "assistant" or is_invalid_turn(messages, i):
            continue
        # Rendering a prefix with the generation prompt yields exactly the text the model
        # was conditioned on; the prefix through this turn ends where the model stopped.
        before = render_prompt(messages[:i], tools, add_generation_prompt=True)
        through = render_prompt(messages[: i + 1], tools, add_generation_prompt=False)
        if not (text.startswith(through) and through.startswith(before)):
            raise ValueError(f"the chat template is not prefix-stable at message {i}: cannot locate the assistant turn")
        end = through.rfind(END_OF_TURN)
        if end < len(before):
            raise ValueError(f"assistant message {i} does not end with {END_OF_TURN}")
        spans.append((len(before), end + len(END_OF_TURN)))
    return text, spans


def encode_conversation(tokenizer: Any, messages: list[dict[str, Any]],
                        tools: list[dict[str, Any]] | None = None) -> tuple[list[int], list[int]]:
    """(input_ids, labels) of one conversation; labels are IGNORE_INDEX except on the
    assistant's tokens (content, `<tool_call>...</tool_call>`, closing `<end_of_turn>`)."""
    text, spans = _assistant_spans(_canonical(messages), tools)
    # The text starts with <bos> already; offsets map every token back to its characters.
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    input_ids = list(enc["input_ids"])
    labels = [IGNORE_INDEX] * len(input_ids)
    for j, (start, _end) in enumerate(enc["offset_mapping"]):
        # A token belongs to the model when it starts inside one of its spans; a token that
        # would straddle "model\n" and the reply is left unlabelled rather than half-taught.
        if any(a <= start < b for a, b in spans):
            labels[j] = input_ids[j]
    return input_ids, labels


def make_batches(lengths: Sequence[int], batch_tokens: int, *, seed: int = 0, epoch: int = 0) -> list[list[int]]:
    """Indices grouped into micro-batches whose padded size (count x longest) fits
    `batch_tokens`: similar lengths together so little compute goes to padding; ties
    and the order of the batches shuffled per epoch, deterministically."""
    rnd = random.Random(seed * 1_000_003 + epoch)
    order = list(range(len(lengths)))
    rnd.shuffle(order)
    order.sort(key=lambda i: lengths[i])  # stable: equal lengths keep the shuffled order
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        # Ascending order: the newcomer is the longest, so it sets the padded width.
        if current and (len(current) + 1) * lengths[i] > batch_tokens:
            batches.append(current)
            current = []
        current.append(i)
    if current:
        batches.append(current)
    rnd.shuffle(batches)
    return batches


def _collate(examples: list[tuple[list[int], list[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    width = max(len(ids) for ids, _ in examples)
    input_ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE_INDEX, dtype=torch.long)
    attention_mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, (ids, labs) in enumerate(examples):  # right padding: positions stay 0..n-1
        input_ids[row, : len(ids)] = torch.tensor(ids)
        labels[row, : len(labs)] = torch.tensor(labs)
        attention_mask[row, : len(ids)] = 1
    return {"input_ids": input_ids, "labels": labels, "attention_mask": attention_mask}


# --- the loss: LM head only where the loss is taken ----------------------------------------

def head_only_loss(hidden: torch.Tensor, labels: torch.Tensor, lm_head: Callable[[torch.Tensor], torch.Tensor],
                   softcap: float | None = None) -> tuple[torch.Tensor, int]:
    """(summed cross-entropy, number of labelled positions).

    Position t predicts token t+1, so hidden states are taken one step before each label.
    Only those rows go through `lm_head`: with a 262k vocabulary and a few hundred trained
    tokens in a 1,500-token conversation, the full logits would cost more than the model.
    """
    targets = labels[:, 1:]
    keep = targets != IGNORE_INDEX
    rows = hidden[:, :-1][keep]
    logits = lm_head(rows)
    if softcap:  # Gemma 2 style final-logit soft-capping, when the config has it
        logits = torch.tanh(logits / softcap) * softcap
    loss = F.cross_entropy(logits.float(), targets[keep], reduction="sum")
    return loss, int(keep.sum())


# --- the schedule --------------------------------------------------------------------------

def lr_at(step: int, config: SFTConfig) -> float:
    """Learning rate of optimizer step `step` (0-based)."""
    peak = config.learning_rate
    # 1) linear warmup from peak/warmup_steps up to the peak at the last warmup step
    if step < config.warmup_steps:
        return peak * (step + 1) / config.warmup_steps
    # 2) then decay from the peak down to min_lr, reached exactly at the last step
    min_lr = peak * config.min_lr_ratio
    span = max(1, config.max_steps - config.warmup_steps - 1)
    ratio = min(1.0, (step - config.warmup_steps) / span)
    # 3) cosine: slow start, slow finish; linear: a straight line
    coeff = 0.5 * (1.0 + math.cos(math.pi * ratio)) if config.lr_schedule == "cosine" else 1.0 - ratio
    return min_lr + coeff * (peak - min_lr)


# --- devices and precision -----------------------------------------------------------------

def _distributed() -> tuple[int, int]:
    """(rank, world size): from torchrun's environment, else (0, 1)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    return dist.get_rank(), world


def _resolve_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={name!r} but CUDA is not available: use device='cpu' or 'auto'")
    return torch.device(name)


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """The compute dtype: the config's choice, or for 'auto' bf16 where the hardware has it
    (on CPU, reasoner.cpu decides, as it does for serving)."""
    if device.type == "cuda" and dtype == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
    chosen = dtype if device.type == "cuda" else choose_dtype(dtype, detect_cpu())
    return torch.bfloat16 if chosen == "bf16" else torch.float32


# --- training ------------------------------------------------------------------------------

def _encode_all(tokenizer: Any, records: Sequence[dict[str, Any]],
                max_seq_len: int) -> tuple[list[tuple[list[int], list[int]]], dict[str, int]]:
    examples, dropped = [], {"too_long": 0, "no_labels": 0}
    for n, record in enumerate(records):
        if not isinstance(record, dict) or not isinstance(record.get("messages"), list):
            raise ValueError(f"record {n} has no `messages` list: records are dicts with `messages` and `tools`")
        ids, labels = encode_conversation(tokenizer, record["messages"], record.get("tools") or None)
        if len(ids) > max_seq_len:
            dropped["too_long"] += 1
        elif all(label == IGNORE_INDEX for label in labels):
            dropped["no_labels"] += 1
        else:
            examples.append((ids, labels))
    return examples, dropped


def _micro_batches(examples: list[tuple[list[int], list[int]]], config: SFTConfig) -> Iterator[list[int]]:
    """Micro-batches forever: an epoch is every example once, re-bucketed with a new order."""
    lengths = [len(ids) for ids, _ in examples]
    epoch = 0
    while True:
        yield from make_batches(lengths, config.batch_tokens, seed=config.seed, epoch=epoch)
        epoch += 1


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def start_output(base_model: str | Path, output_dir: str | Path) -> tuple[Path, Path]:
    """(base checkpoint, output directory) of a training run about to start: the base must be
    a checkpoint, and a stale completion marker in the output is removed first (it would vouch
    for the new, unfinished files)."""
    base_path = Path(base_model)
    if not (base_path / "config.json").is_file():
        raise ModelNotPrepared(f"{base_path} is not a checkpoint (no config.json): pass the directory "
                               f"reasoner.prepare.ensure_model() returns, or prepare the model first")
    out_dir = Path(output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / TRAIN_MARKER).unlink(missing_ok=True)
    return base_path, out_dir


def train_sft(config: SFTConfig, records: Sequence[dict[str, Any]], *, progress: Progress | None = None) -> TrainResult:
    """Train a fresh LoRA on `records` and save it into `config.output_dir`."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    t_start = time.perf_counter()
    report = progress or (lambda _event: None)
    base_path, out_dir = start_output(config.base_model, config.output_dir)

    # Data: encode, drop what does not fit, count what was dropped.
    tokenizer = AutoTokenizer.from_pretrained(str(base_path))
    examples, dropped = _encode_all(tokenizer, records, config.max_seq_len)
    report({"event": "data", "conversations": len(examples), "dropped": dropped})
    if not examples:
        raise ValueError(f"no trainable conversation among {len(records)} records (dropped: {dropped}): records need "
                         f"an assistant turn, and at most max_seq_len={config.max_seq_len} tokens")
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    # Model: frozen base in the compute dtype (it is never updated, so bf16 storage loses
    # nothing and halves memory), a fresh LoRA whose weights peft keeps in fp32.
    rank, world = _distributed()
    device = _resolve_device(config.device)
    dtype = resolve_dtype(config.dtype, device)
    torch.manual_seed(config.seed)
    report({"event": "model", "device": device.type, "dtype": str(dtype).removeprefix("torch."),
            "base_model": str(base_path)})
    base = AutoModelForCausalLM.from_pretrained(str(base_path), dtype=dtype)
    base.config.use_cache = False
    model = get_peft_model(base, LoraConfig(r=config.lora_rank, lora_alpha=config.lora_alpha,
                                            lora_dropout=config.lora_dropout, target_modules=config.target_modules,
                                            task_type="CAUSAL_LM"))
    model.to(device)
    model.train()
    decoder = model.get_base_model().get_decoder()           # the transformer without its head
    lm_head = model.get_base_model().get_output_embeddings()
    softcap = getattr(base.config, "final_logit_softcapping", None)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=config.weight_decay)
    autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=dtype == torch.bfloat16)

    batches = _micro_batches(examples, config)
    losses: list[float] = []
    log: list[dict[str, Any]] = []
    total_tokens = trained_tokens = 0
    t_loop = time.perf_counter()
    for step in range(config.max_steps):
        lr = lr_at(step, config)
        for group in optimizer.param_groups:
            group["lr"] = lr
        drawn = [next(batches) for _ in range(config.grad_accum * world)]
        micro = [_collate([examples[i] for i in idx], pad_id) for idx in drawn[rank::world]]
        # The step's loss is the mean over every labelled token of all its micro-batches (on
        # every rank), so a micro-batch weighs by its trained tokens, not by its count.
        step_trained = sum(int((m["labels"][:, 1:] != IGNORE_INDEX).sum()) for m in micro)
        if world > 1:
            step_trained = int(_all_reduce(torch.tensor(float(step_trained))).item())
        step_loss = 0.0
        for m in micro:
            m = {k: v.to(device) for k, v in m.items()}
            with autocast:
                hidden = decoder(input_ids=m["input_ids"], attention_mask=m["attention_mask"]).last_hidden_state
                loss_sum, _ = head_only_loss(hidden, m["labels"], lm_head, softcap)
            (loss_sum / step_trained).backward()
            step_loss += loss_sum.item() / step_trained
            total_tokens += int(m["attention_mask"].sum())
        if world > 1:  # sum the LoRA gradients (each already divided by the global token count)
            for p in params:
                if p.grad is not None:
                    _all_reduce(p.grad)
            step_loss = float(_all_reduce(torch.tensor(step_loss)).item())
        if config.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        trained_tokens += step_trained
        losses.append(step_loss)
        elapsed = time.perf_counter() - t_loop
        entry = {"event": "step", "step": step + 1, "max_steps": config.max_steps, "loss": round(step_loss, 5),
                 "lr": lr, "tokens_per_s": round(total_tokens / elapsed, 2),
                 "trained_tokens_per_s": round(trained_tokens / elapsed, 2),
                 "step_s": round(elapsed / (step + 1), 3), "elapsed_s": round(elapsed, 3),
                 "eta_s": round(elapsed / (step + 1) * (config.max_steps - step - 1), 1)}
        if (step + 1) % config.log_every == 0 or step + 1 == config.max_steps:
            log.append(entry)  # the metrics keep every log_every-th step; progress sees every step
        report(entry)
    train_s = time.perf_counter() - t_loop

    # Artifacts: the adapter first, the marker last (atomically), so a crash in between
    # leaves a directory check_adapter may accept but the STaR loop will not take as done.
    if rank == 0:
        model.save_pretrained(str(out_dir))
    result = TrainResult(
        adapter_dir=out_dir, steps=config.max_steps, trained_tokens=trained_tokens, total_tokens=total_tokens,
        tokens_per_s=total_tokens / train_s, trained_tokens_per_s=trained_tokens / train_s,
        final_loss=losses[-1], losses=losses, train_s=train_s, wall_s=time.perf_counter() - t_start,
        dropped=dropped)
    if rank == 0:
        _write_marker(out_dir, config, result, base_path=base_path, device=device, dtype=dtype,
                      conversations=len(examples), log=log, train_s=train_s)
    if world > 1:
        import torch.distributed as dist

        dist.barrier()  # nobody returns before the adapter is on disk
    report({"event": "done", "adapter_dir": str(out_dir), "steps": result.steps, "final_loss": result.final_loss,
            "tokens_per_s": round(result.tokens_per_s, 2),
            "trained_tokens_per_s": round(result.trained_tokens_per_s, 2), "wall_s": round(result.wall_s, 3)})
    return result


def _all_reduce(tensor: torch.Tensor) -> torch.Tensor:
    import torch.distributed as dist

    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def _write_marker(out_dir: Path, config: SFTConfig, result: TrainResult, *, base_path: Path, device: torch.device,
                  dtype: torch.dtype, conversations: int, log: list[dict[str, Any]], train_s: float) -> None:
    import peft
    import transformers

    _write_json_atomic(out_dir / TRAIN_MARKER, {
        "config": asdict(config),
        "iteration": config.iteration,
        "extra": config.extra,
        "base_model": str(base_path.resolve()),
        "device": str(device),
        "dtype": str(dtype).removeprefix("torch."),
        "steps": result.steps,
        "conversations": conversations,
        "world_size": int(os.environ.get("WORLD_SIZE", "1")),
        "dropped": result.dropped,
        "total_tokens": result.total_tokens,
        "trained_tokens": result.trained_tokens,
        "tokens_per_s": round(result.tokens_per_s, 2),
        "trained_tokens_per_s": round(result.trained_tokens_per_s, 2),
        "final_loss": result.final_loss,
        "losses": result.losses,
        "log": log,
        "train_s": round(train_s, 3),
        "wall_s": round(result.wall_s, 3),
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__},
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    })


# --- entry point ---------------------------------------------------------------------------

def load_records(path: str | Path) -> list[dict[str, Any]]:
    """Records from a JSONL file (one trajectory or dataset row per line)."""
    records = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except ValueError as exc:
                    raise ValueError(f"{path}:{n} is not JSON: {exc}") from None
    return records


def main(config: SFTConfig) -> TrainResult:
    if not config.dataset:
        raise ValueError("main() reads its records from config.dataset: pass --dataset FILE.jsonl")
    result = train_sft(config, load_records(config.dataset),
                       progress=lambda event: print(json.dumps(event), file=sys.stderr, flush=True))
    print(json.dumps({"adapter_dir": str(result.adapter_dir), "steps": result.steps,
                      "final_loss": result.final_loss, "tokens_per_s": round(result.tokens_per_s, 2)}))
    return result


if __name__ == "__main__":
    from transformers import HfArgumentParser

    main(HfArgumentParser(SFTConfig).parse_args_into_dataclasses()[0])
