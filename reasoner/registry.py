"""A workspace's own LoRA adapters: `$DEEPSTAR_HOME/adapters/`.

    adapters/registry.json    {"version": 1, "default": NAME | null, "adapters": {NAME: entry}}
    adapters/NAME/            a copy of the adapter (its source may be a run directory
                              that is later removed)

An entry records where the adapter came from, its weights' SHA-256 (checked again
before the server loads it) and the base model it was trained on. `deepstar serve`
loads every registered adapter at start, so they come back after a restart; the
`default` one is what `research`, `eval` and the Python API use on the embedded server.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reasoner.adapters import check_adapter
from reasoner.errors import AdapterError
from reasoner.prepare import sha256_file

__all__ = ["AdapterEntry", "AdapterRegistry", "validate_name"]

REGISTRY_VERSION = 1
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def validate_name(name: str, *, reserved: tuple[str, ...] = ()) -> str:
    if not NAME_RE.match(name or ""):
        raise AdapterError(f"adapter name {name!r} is not usable: use 1-64 letters, digits, '.', '_' or '-', "
                           "starting with a letter or digit (--name N)")
    if name in reserved:
        raise AdapterError(f"adapter name {name!r} is reserved (the base model or the shipped reasoner); "
                           "pick another with --name N")
    return name


@dataclass(frozen=True)
class AdapterEntry:
    name: str
    path: Path
    sha256: str
    source: str
    base_model: str | None
    added_at: str

    def verify(self) -> None:
        """The stored copy is the adapter that was registered (same weights), else AdapterError."""
        try:
            check_adapter(self.path)
        except AdapterError as exc:
            raise AdapterError(f"the registered adapter {self.name!r} is unusable ({exc}); load it again "
                               f"(`deepstar adapters load DIR --name {self.name} --replace`) or remove it "
                               f"(`deepstar adapters remove {self.name}`)") from None
        digest = sha256_file(self.path / "adapter_model.safetensors")
        if digest != self.sha256:
            raise AdapterError(f"the registered adapter {self.name!r} at {self.path} has changed since it was loaded "
                               f"(SHA-256 {digest[:16]}…, registered {self.sha256[:16]}…); load it again with "
                               f"`deepstar adapters load DIR --name {self.name}`")


class AdapterRegistry:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.path = self.root / "registry.json"

    # --- storage -------------------------------------------------------------------------
    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"version": REGISTRY_VERSION, "default": None, "adapters": {}}
        except ValueError as exc:
            raise AdapterError(f"the adapter registry {self.path} is damaged ({exc}); fix or remove it "
                               "and load the adapters again") from None
        if not isinstance(data, dict) or data.get("version") != REGISTRY_VERSION:
            raise AdapterError(f"the adapter registry {self.path} is not of version {REGISTRY_VERSION}")
        return data

    def _write(self, data: dict[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        tmp.replace(self.path)

    # --- reading -------------------------------------------------------------------------
    def entries(self) -> list[AdapterEntry]:
        data = self._read()
        return [AdapterEntry(name=n, path=Path(e["path"]), sha256=e["sha256"], source=e.get("source", ""),
                             base_model=e.get("base_model"), added_at=e.get("added_at", ""))
                for n, e in sorted(data["adapters"].items())]

    def get(self, name: str) -> AdapterEntry | None:
        return next((e for e in self.entries() if e.name == name), None)

    @property
    def default(self) -> str | None:
        return self._read().get("default")

    # --- changes -------------------------------------------------------------------------
    def add(self, name: str, adapter_dir: Path, *, source: str, base_model: str | None = None,
            reserved: tuple[str, ...] = (), replace: bool = False) -> AdapterEntry:
        """Copy the adapter into the workspace and register it as `name`."""
        validate_name(name, reserved=reserved)
        adapter_dir = Path(adapter_dir)
        check_adapter(adapter_dir)
        data = self._read()
        if name in data["adapters"] and not replace:
            raise AdapterError(f"an adapter named {name!r} is already registered ({data['adapters'][name]['source']}); "
                               "pick another --name, or pass --replace")
        target = self.root / name
        tmp = self.root / f".{name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for file in ("adapter_model.safetensors", "adapter_config.json"):
            shutil.copyfile(adapter_dir / file, tmp / file)
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
        entry = {"path": str(target), "sha256": sha256_file(target / "adapter_model.safetensors"),
                 "source": source, "base_model": base_model,
                 "added_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        data["adapters"][name] = entry
        self._write(data)
        found = self.get(name)
        assert found is not None  # just written
        return found

    def remove(self, name: str) -> AdapterEntry:
        """Unregister `name` and delete its copy; the default falls back when it was the default."""
        data = self._read()
        entry = self.get(name)
        if entry is None:
            raise AdapterError(f"no adapter named {name!r} is registered (see `deepstar adapters list`)")
        del data["adapters"][name]
        if data.get("default") == name:
            data["default"] = None
        self._write(data)
        shutil.rmtree(entry.path, ignore_errors=True)
        return entry

    def set_default(self, name: str | None) -> None:
        data = self._read()
        if name is not None and name not in data["adapters"]:
            raise AdapterError(f"no adapter named {name!r} is registered (see `deepstar adapters list`)")
        data["default"] = name
        self._write(data)
