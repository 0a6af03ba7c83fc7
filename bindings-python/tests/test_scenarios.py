"""Runs the shared scenario files (tests/scenarios/*.json) through the Python binding."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import crm_core
from crm_core import _native

SCENARIOS = sorted((Path(__file__).resolve().parents[2] / "tests" / "scenarios").glob("*.json"))


def contains(expected: Any, actual: Any) -> bool:
    """Objects by key (extra keys allowed), arrays element-wise with equal length, scalars equal."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(k in actual and contains(v, actual[k]) for k, v in expected.items())
    if isinstance(expected, list):
        return isinstance(actual, list) and len(expected) == len(actual) and all(map(contains, expected, actual))
    return bool(expected == actual and type(expected) is type(actual))


def pull(engine: _native.Engine, replica: _native.ReplicaEngine, actor: str) -> str:
    """A `pull` step: every canonical event after the replica's cursor, then what it
    still waits for — ``{"cursor", "pending", "rejected"}`` as JSON."""
    while True:
        batch = engine.pull_json(actor, replica.cursor)
        replica.receive_pull_json(batch)
        if not json.loads(batch)["more"]:
            break
    return json.dumps({"cursor": replica.cursor, "pending": json.loads(replica.pending_json()),
                       "rejected": json.loads(replica.rejected_json())})


def test_the_scenarios_are_found() -> None:
    assert len(SCENARIOS) >= 3


@pytest.mark.parametrize("path", SCENARIOS, ids=[path.stem for path in SCENARIOS])
def test_scenario(path: Path) -> None:
    scenario = json.loads(path.read_text())
    # The raw JSON entry points, so every language sends the same bytes to the core.
    engine = _native.Engine(scenario["replica"], json.dumps(scenario["options"]))
    # Replicas of it by name (docs/sync.md), for scenarios that sync.
    replicas = {
        name: _native.ReplicaEngine(replica_id, json.dumps(scenario["options"]))
        for name, replica_id in scenario.get("replicas", {}).items()
    }
    now = ""
    for index, step in enumerate(scenario["steps"]):
        here = f"{path.name} step {index}"
        now = step.get("at", now)
        expect = step.get("expect", {})
        try:
            if "push" in step:
                replica = replicas[step["push"]]
                output = engine.push_json(step["actor"], now, replica.push_batch_json(1000))
                replica.receive_push_result_json(output)
            elif "pull" in step:
                output = pull(engine, replicas[step["pull"]], step["actor"])
            elif "on" in step:
                replica = replicas[step["on"]]
                if "discard" in step:
                    output = replica.discard_json(step["discard"])
                elif "retry" in step:
                    output = replica.retry_json(step["retry"], now)
                elif "execute" in step:
                    output = replica.execute_json(step["actor"], now, json.dumps(step["execute"]))
                else:
                    output = replica.query_json(step["actor"], now, json.dumps(step["query"]))
            elif "batch" in step:
                output = engine.execute_batch_json(
                    step["actor"], now, json.dumps(step["batch"]), step.get("idempotency_key")
                )
            elif "execute_raw" in step:
                output = engine.execute_json(step["actor"], now, step["execute_raw"])
            elif "execute" in step:
                output = engine.execute_json(step["actor"], now, json.dumps(step["execute"]))
            else:
                output = engine.query_json(step["actor"], now, json.dumps(step["query"]))
        except crm_core.CrmError as error:
            assert "error" in expect, f"{here}: unexpected {error.code}: {error}"
            assert error.code == expect["error"]["code"], f"{here}: {error}"
            assert expect["error"].get("contains", "") in str(error), f"{here}: {error}"
            continue
        assert "error" not in expect, f"{here}: expected {expect['error']}, got success"
        result = json.loads(output)
        if "created" in expect:
            assert result["created"] == expect["created"], here
        if "events" in expect:
            assert [event["event"]["type"] for event in result["events"]] == expect["events"], here
        if "result" in expect:
            assert contains(expect["result"], result), f"{here}: expected {expect['result']}, got {result}"
