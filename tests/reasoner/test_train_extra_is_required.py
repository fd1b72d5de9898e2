"""A missing or broken train extra makes the Quiet-STaR tests fail, not skip: they are
collected in a subprocess where `import torch` raises ModuleNotFoundError (what
`pytest.importorskip` turns into a silent skip)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO


@pytest.mark.parametrize("path", ["tests/reasoner/test_quiet_star.py", "tests/agent/test_quiet_star_cli.py",
                                  "tests/agent/test_quiet_star_compare.py"])
def test_a_broken_torch_fails_the_quiet_star_tests(tmp_path, path):
    fake = tmp_path / "torch"
    fake.mkdir()
    (fake / "__init__.py").write_text(
        'raise ModuleNotFoundError("the train extra is broken (planted by this test)", name="torch")\n')
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)])}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--co", path],
                          capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-2000:]
    assert "the train extra is broken" in out and "skipped" not in out, out[-2000:]
