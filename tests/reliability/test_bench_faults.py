"""`deepstar bench faults --only corrupted_inputs --json OUT`: the report's JSON, and the
corrupted-inputs scenario through the real CLI (a broken task file, damaged and missing
checkpoints, stores of an older and a newer schema, a store that is not a database)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import deepstar

pytestmark = pytest.mark.integration


def test_bench_faults_writes_the_report_as_json(vllm_server, test_home, tmp_path):
    out = tmp_path / "faults.json"
    proc = deepstar("bench", "faults", "--only", "corrupted_inputs", "--json", str(out),
                    "--scratch", str(tmp_path / "scratch"), home=test_home, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(out.read_text())
    assert data["benchmark"] == "faults" and data["ok"] is True
    assert {"cores", "python", "platform"} <= set(data["machine"])
    (row,) = data["scenarios"]
    assert row["function"] == "corrupted_inputs" and row["ok"] is True
    assert row["runs"] == row["completed"] == 6 and row["steps_lost"] == 0 and row["forbidden_requests"] == 0
    assert set(row["extra"]["checks"].values()) == {"ok"}
    # the table is printed, one row per scenario
    assert "corrupted_inputs" in proc.stdout and "steps lost" in proc.stdout


def test_bench_faults_refuses_an_unknown_scenario(test_home):
    proc = deepstar("bench", "faults", "--only", "no_such_scenario", home=test_home, timeout=120)
    assert proc.returncode == 2 and "no_such_scenario" in proc.stderr and "vllm_killed" in proc.stderr
