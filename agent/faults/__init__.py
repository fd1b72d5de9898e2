"""Fault and attack scenarios: what `deepstar bench faults` runs and tests/reliability checks.

    from agent.faults import FaultContext, all_scenarios
    for scenario in all_scenarios():
        result = await scenario(FaultContext(home=..., server_home=..., base_url=...))

`agent.faults.process` holds the process faults (killed servers and processes, two
writers, corrupted inputs), `agent.faults.web` the hostile web and the attacks,
`agent.faults.hardening` the fetch cache against today's guard and the environment's
proxy against the model traffic; the contract all follow is `agent.faults.base`.
"""

from __future__ import annotations

import importlib

from agent.faults.base import FaultContext, Scenario, ScenarioResult

__all__ = ["FaultContext", "Scenario", "ScenarioResult", "all_scenarios", "scenario_names"]


def all_scenarios() -> list[Scenario]:
    """Every scenario: the process faults, then the web and hardening ones (when the web module is present)."""
    from agent.faults.process import SCENARIOS as process

    try:
        web = importlib.import_module("agent.faults.web")
    except ModuleNotFoundError as exc:
        if exc.name != "agent.faults.web":  # web.py exists but something it imports is missing
            raise
        return list(process)
    from agent.faults.hardening import SCENARIOS as hardening

    return [*process, *web.SCENARIOS, *hardening]


def scenario_names() -> list[str]:
    return [s.__name__ for s in all_scenarios()]
