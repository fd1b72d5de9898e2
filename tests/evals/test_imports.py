from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

MODULES = ["evals.corpus", "evals.demos", "evals.errors", "evals.export", "evals.facts", "evals.harness",
           "evals.judge", "evals.loaders", "evals.quality", "evals.scoring", "evals.shipping", "evals.synth"]


def test_evals_never_imports_agent_or_planner():
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in MODULES)
        + "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('agent', 'planner'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


@pytest.mark.parametrize("name", MODULES)
def test_public_names_are_pinned(name):
    module = importlib.import_module(name)
    for public in module.__all__:
        assert hasattr(module, public), public
