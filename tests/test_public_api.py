"""The public names are exported explicitly and pinned."""

import agent
import reasoner.client
import reasoner.errors


def test_agent_exports():
    assert sorted(agent.__all__) == ["AgentConfig", "ResearchAgent", "ResearchResult", "load_config"]


def test_reasoner_exports():
    assert sorted(reasoner.client.__all__) == ["ChatResult", "Choice", "CompletionResult", "Limits",
                                               "ReasonerClient", "RetryPolicy", "Timeout", "Usage"]
    assert "ReasonerError" in reasoner.errors.__all__
    for name in reasoner.client.__all__ + reasoner.errors.__all__:
        assert hasattr(reasoner.client, name) or hasattr(reasoner.errors, name)


def test_bottom_floor_packages_import_no_upper_floor():
    import subprocess
    import sys

    code = ("import sys, importlib, pkgutil, reasoner, tools\n"
            "for pkg in (reasoner, tools):\n"
            "    for m in pkgutil.iter_modules(pkg.__path__):\n"
            "        importlib.import_module(f'{pkg.__name__}.{m.name}')\n"
            "print(sorted({n.split('.')[0] for n in sys.modules} & {'agent', 'planner', 'evals'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    code = ("import sys, importlib, pkgutil, planner\n"
            "for m in pkgutil.iter_modules(planner.__path__):\n"
            "    importlib.import_module(f'planner.{m.name}')\n"
            "print(sorted({n.split('.')[0] for n in sys.modules} & {'agent', 'evals'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
