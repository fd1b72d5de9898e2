"""Servers deepstar starts bind to loopback; another address needs `--allow-public` and
warns on stderr. Checked on the real CLI in subprocesses, with the kernel's own table of
listening sockets (/proc/net/tcp*) as the witness."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.config import load_config
from agent.runtime import server_spec
from reasoner.server import _command
from tests.conftest import REPO, deepstar, free_port

pytestmark = pytest.mark.integration

LINUX = Path("/proc/net/tcp").exists()


def listening(port: int) -> set[str]:
    """Local addresses with a socket listening on `port` (hex as the kernel writes them)."""
    out = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as fh:
            next(fh)
            for line in fh:
                local, state = line.split()[1], line.split()[3]
                addr, hex_port = local.split(":")
                if state == "0A" and int(hex_port, 16) == port:
                    out.add(addr)
    return out


def _serve_wiki(home: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "DEEPSTAR_HOME": str(home)}
    return subprocess.Popen([sys.executable, "-m", "agent", "web", "serve", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_listening(port: int, proc: subprocess.Popen, timeout: float = 120) -> set[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if found := listening(port):
            return found
        time.sleep(0.2)
    return set()


def _stop(proc: subprocess.Popen) -> tuple[str, str]:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    try:
        return proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.communicate()


@pytest.mark.skipif(not LINUX, reason="reads the kernel's socket table (/proc/net/tcp): Linux only")
def test_wiki_site_binds_loopback_by_default(tmp_path):
    port = free_port()
    proc = _serve_wiki(tmp_path, "--port", str(port))
    try:
        addresses = _wait_listening(port, proc)
    finally:
        _, err = _stop(proc)
    assert addresses == {"0100007F"}, (addresses, err)  # 127.0.0.1 only
    assert "warning" not in err


def test_wiki_site_refuses_another_address_without_the_flag(tmp_path):
    port = free_port()
    proc = _serve_wiki(tmp_path, "--host", "0.0.0.0", "--port", str(port))
    _, err = proc.communicate(timeout=120)
    assert proc.returncode != 0
    assert "--allow-public" in err and "0.0.0.0" in err
    if LINUX:
        assert listening(port) == set()


@pytest.mark.skipif(not LINUX, reason="reads the kernel's socket table (/proc/net/tcp): Linux only")
def test_wiki_site_on_another_address_with_the_flag_warns(tmp_path):
    port = free_port()
    proc = _serve_wiki(tmp_path, "--host", "0.0.0.0", "--port", str(port), "--allow-public")
    try:
        addresses = _wait_listening(port, proc)
    finally:
        _, err = _stop(proc)
    assert addresses == {"00000000"}, (addresses, err)  # 0.0.0.0, as asked
    assert "warning" in err and "0.0.0.0" in err


def test_model_server_binds_loopback_by_default(tmp_path):
    cfg = load_config({"home": tmp_path}, environ={})
    spec = server_spec(cfg, model_path=tmp_path)
    assert spec.host == "127.0.0.1" and spec.allow_public is False
    cmd = _command(spec, "cpu")
    assert cmd[cmd.index("--host") + 1] == "127.0.0.1"


def _fake_checkpoint(tmp_path: Path) -> Path:
    model = tmp_path / "ckpt"
    model.mkdir()
    (model / "config.json").write_text("{}")
    return model


def test_model_server_refuses_another_address_without_the_flag(tmp_path):
    model = _fake_checkpoint(tmp_path)
    proc = deepstar("serve", "--model", str(model), "--host", "0.0.0.0", "--port", str(free_port()),
                    home=tmp_path, timeout=120)
    assert proc.returncode != 0
    assert "--allow-public" in proc.stderr and "0.0.0.0" in proc.stderr
    assert not (tmp_path / "server.json").exists()  # nothing was started


def test_model_server_refuses_another_address_from_the_environment(tmp_path):
    model = _fake_checkpoint(tmp_path)
    proc = deepstar("serve", "--model", str(model), "--port", str(free_port()), home=tmp_path, timeout=120,
                    env={"DEEPSTAR_SERVER_HOST": "0.0.0.0"})
    assert proc.returncode != 0 and "--allow-public" in proc.stderr
    assert not (tmp_path / "server.json").exists()


def test_model_server_on_another_address_with_the_flag_warns(tmp_path):
    # the port is taken, so the command stops right after its checks: no vLLM is started
    model = _fake_checkpoint(tmp_path)
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = deepstar("serve", "--model", str(model), "--host", "0.0.0.0", "--port", str(port),
                        "--allow-public", home=tmp_path, timeout=120)
    assert proc.returncode != 0
    assert "warning" in proc.stderr and "0.0.0.0" in proc.stderr and "reachable" in proc.stderr
    assert "in use" in proc.stderr.lower()
    assert not (tmp_path / "server.json").exists()
