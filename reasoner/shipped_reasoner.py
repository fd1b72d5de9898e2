"""The trained reasoner that ships inside the package, and its model card.

`reasoner/shipped/deepstar-reasoner/` holds, once a STaR run's adapter has been shipped
(`deepstar adapters ship RUN_DIR`):

    adapter_model.safetensors   the LoRA weights
    adapter_config.json         peft's config of it
    card.json                   the machine-readable card: base model SHA-256, training-data
                                hash, STaR config, the dev/test table, the default mode per
                                task kind, the command that reproduces it, and the SHA-256
                                and size of every file above
    MODEL_CARD.md               the same card for people

`deepstar serve` loads it under the stable name `deepstar-reasoner` after checking every
file against its card: a mismatch is an `AdapterError`, never a damaged adapter served.
When nothing is shipped (a checkout before the first `ship`), `find_shipped()` returns
None and deepstar serves the base model as before.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

from reasoner.adapters import check_adapter
from reasoner.errors import AdapterError
from reasoner.prepare import sha256_file

__all__ = [
    "CARD_VERSION",
    "RESEARCH_DEFAULTS",
    "SHIPPED_NAME",
    "ShippedReasoner",
    "default_shipped_dir",
    "find_shipped",
    "render_model_card",
    "verify_files",
    "write_shipped",
]

SHIPPED_NAME = "deepstar-reasoner"  # the name it is served under, stable across releases
CARD_VERSION = 1
# the research settings a card records (`research`) that runs on the shipped reasoner take,
# and what an unset one means for a model whose card does not record it (AgentConfig: None = auto)
RESEARCH_DEFAULTS = {"focus_reading": True, "answer_spans": False, "subject_page_answers": False}
ADAPTER_FILES = ("adapter_model.safetensors", "adapter_config.json")


@dataclass(frozen=True)
class ShippedReasoner:
    path: Path
    card: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.card.get("name") or SHIPPED_NAME)

    @property
    def sha256(self) -> str:
        """The adapter weights' SHA-256 (what trajectories record as the model's revision)."""
        return str(self.card["files"]["adapter_model.safetensors"]["sha256"])

    def default_mode(self, kind: str | None = None) -> str | None:
        modes = self.card.get("default_mode") or {}
        return modes.get(kind or "", modes.get("default"))


def default_shipped_dir() -> Path:
    """Where the package keeps its shipped reasoner (it may be absent)."""
    return Path(str(files("reasoner").joinpath("shipped", SHIPPED_NAME)))


def verify_files(path: Path, card: dict[str, Any]) -> None:
    """Every file the card lists is there with the card's size and SHA-256, else AdapterError."""
    listed = card.get("files") or {}
    for name in ADAPTER_FILES:
        if name not in listed:
            raise AdapterError(f"the model card {path / 'card.json'} lists no {name}; ship the adapter again "
                               "(`deepstar adapters ship RUN_DIR`)")
    for name, meta in listed.items():
        file = path / name
        if not file.is_file():
            raise AdapterError(f"{file} is missing (its card lists it); reinstall deepstar or ship the adapter again "
                               "(`deepstar adapters ship RUN_DIR`)")
        digest = sha256_file(file)
        if digest != meta.get("sha256"):
            raise AdapterError(f"{file} is damaged: its SHA-256 is {digest[:16]}…, its card says "
                               f"{str(meta.get('sha256'))[:16]}…; reinstall deepstar or ship the adapter again "
                               "(`deepstar adapters ship RUN_DIR`)")


def find_shipped(path: Path | None = None, *, verify: bool = True) -> ShippedReasoner | None:
    """The shipped reasoner at `path` (default: inside the package), checked against its card;
    None when nothing is shipped there. A folder that holds part of one is an AdapterError."""
    path = Path(path) if path is not None else default_shipped_dir()
    card_path = path / "card.json"
    if not card_path.exists():
        if any((path / n).exists() for n in ADAPTER_FILES):
            raise AdapterError(f"{path} holds an adapter without its card.json; ship it with "
                               "`deepstar adapters ship RUN_DIR` rather than copying files in")
        return None
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise AdapterError(f"the model card {card_path} is damaged ({exc}); ship the adapter again") from None
    if not isinstance(card, dict) or card.get("card_version") != CARD_VERSION:
        raise AdapterError(f"the model card {card_path} is not a deepstar card of version {CARD_VERSION}")
    if verify:
        verify_files(path, card)
        check_adapter(path)
    return ShippedReasoner(path, card)


def write_shipped(adapter_dir: Path, out_dir: Path, card: dict[str, Any]) -> ShippedReasoner:
    """Install the adapter in `adapter_dir` as the shipped reasoner at `out_dir`, with `card`
    (completed here with the files' sizes and SHA-256). Written beside, then swapped in, so a
    failed ship leaves the previous reasoner as it was."""
    adapter_dir, out_dir = Path(adapter_dir), Path(out_dir)
    check_adapter(adapter_dir)
    # hidden names beside it: a half-written folder is never taken for package data
    tmp = out_dir.with_name(f".{out_dir.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    entries: dict[str, dict[str, Any]] = {}
    for name in ADAPTER_FILES:
        shutil.copyfile(adapter_dir / name, tmp / name)
        entries[name] = {"bytes": (tmp / name).stat().st_size, "sha256": sha256_file(tmp / name)}
    card = {"card_version": CARD_VERSION, "name": SHIPPED_NAME,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **card, "files": entries}
    (tmp / "card.json").write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (tmp / "MODEL_CARD.md").write_text(render_model_card(card), encoding="utf-8")
    old = out_dir.with_name(f".{out_dir.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if out_dir.exists():
        out_dir.rename(old)
    tmp.rename(out_dir)
    shutil.rmtree(old, ignore_errors=True)
    shipped = find_shipped(out_dir)
    assert shipped is not None  # just written
    return shipped


def _fmt(v: Any) -> str:
    return "—" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))


def render_model_card(card: dict[str, Any]) -> str:
    """MODEL_CARD.md: the card for people (card.json is the source of truth)."""
    base = card.get("base_model") or {}
    data = card.get("training_data") or {}
    source = card.get("source") or {}
    lines = [f"# {card.get('name', SHIPPED_NAME)}", "",
             "A LoRA adapter trained by deepstar's STaR loop on its own research trajectories; "
             "deepstar serves it as the default reasoner of the embedded server.", "",
             "## Provenance", "",
             f"- base model: `{base.get('name')}`, weights SHA-256 `{base.get('sha256')}`",
             f"- chosen: iteration {source.get('iteration')} (`{source.get('model')}`) of the STaR run "
             f"`{source.get('run_dir')}`, {source.get('chosen_by', 'chosen on dev')}",
             f"- training data: {data.get('records')} records, SHA-256 `{data.get('sha256')}`"
             + (f", origins {data.get('origins')}" if data.get("origins") else ""),
             f"- default mode: {card.get('default_mode')}",
             f"- research settings it was trained and measured with: {card.get('research') or 'not recorded (the defaults)'}",
             "",
             "## Results", "",
             "| model | split | EM | F1 | citation support | success | n |", "|---|---|---|---|---|---|---|"]
    for row in card.get("results") or []:
        lines.append(f"| {row.get('model')} | {row.get('split')} | {_fmt(row.get('em'))} | {_fmt(row.get('f1'))} | "
                     f"{_fmt(row.get('citation_support'))} | {_fmt(row.get('success'))} | {_fmt(row.get('n'))} |")
    if not any(r.get("split") == "test" for r in card.get("results") or []):
        lines += ["", "The run recorded no test-split score."]
    lines += ["", "## Reproduce", "", "```", str(card.get("reproduce")), "```", "",
              "## STaR config", "", "```json", json.dumps(card.get("star_config") or {}, indent=2), "```", "",
              "## Files", ""]
    for name, meta in (card.get("files") or {}).items():
        lines.append(f"- `{name}`: {meta['bytes']:,} bytes, SHA-256 `{meta['sha256']}`")
    return "\n".join(lines) + "\n"
