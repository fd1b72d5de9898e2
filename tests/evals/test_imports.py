"""Every module of the project imports, pins its public names, and keeps to the three
import floors of ARCHITECTURE.md (checked on the source of every module, lazy imports
included, and on what importing evals really loads)."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from tests.floors import PACKAGES, floor_violations, module_names, packages_in_source

MODULES = module_names("evals")


def test_every_evals_module_is_covered():
    assert {"evals.star", "evals.bench_generate", "evals.bench_rollout", "evals.bench_train", "evals.bench_web",
            "evals.harness", "evals.synth", "evals.scoring", "evals.details",
            "evals.bench_memory"} <= set(MODULES)


def test_evals_never_imports_agent_or_planner():
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in MODULES)
        + "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('agent', 'planner'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_the_three_floors_hold_in_every_module_of_the_project():
    assert len(module_names()) > 80 and {m.split(".")[0] for m in module_names()} == set(PACKAGES)
    assert floor_violations() == []


def test_the_floor_check_sees_lazy_relative_and_aliased_imports():
    source = ("import os\n"
              "def late():\n    from agent.api import ResearchAgent\n"
              "from ..planner import graph\n"
              "import reasoner.client as rc\n"
              "from . import page\n")
    assert packages_in_source(source, "tools.x") == {"agent": 3, "planner": 4, "reasoner": 5, "tools": 6}
    assert packages_in_source("from .. import planner\n", "evals.sub.x") == {"evals": 1}
    assert packages_in_source("from . import graph\n", "planner", is_package=True) == {"planner": 1}


@pytest.mark.parametrize("name", [m for m in module_names() if not m.endswith("__main__")])
def test_every_module_imports_and_pins_its_public_names(name):
    module = importlib.import_module(name)
    for public in getattr(module, "__all__", []):
        assert hasattr(module, public), f"{name}.{public}"
