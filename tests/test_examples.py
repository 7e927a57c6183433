"""Every shipped example parses, references real stations/regions/countries, and runs a step."""

from __future__ import annotations

from pathlib import Path

import pytest

from leosim.policy import load_policy
from leosim.scenario import load_scenario, parse_scenario
from leosim.simulate import build_network, run_pairs

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SCENARIOS = sorted(
    p
    for p in EXAMPLES.rglob("*.toml")
    if "scenario" in p.name or p.parent.name in ("routing", "capacity")
)
POLICIES = sorted(p for p in (EXAMPLES / "policy").glob("*.toml") if "scenario" not in p.name)


def test_examples_are_found():
    assert len(SCENARIOS) >= 7 and len(POLICIES) >= 6


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.name)
def test_example_scenario_builds_and_routes_one_step(path):
    sc = load_scenario(path)
    one = parse_scenario(
        {**sc.model_dump(exclude_none=True), "time": {"times_s": [0.0]}},
        source=str(path),
        base_dir=str(path.parent),
    )
    net = build_network(one)
    assert net.num_sats > 0
    if len(net.pairs):
        table = run_pairs(net, [0.0])
        assert len(table) == len(net.pairs)


@pytest.mark.parametrize("path", POLICIES, ids=lambda p: p.name)
def test_example_policy_loads_and_cites_sources(path):
    pol = load_policy(path)
    assert pol.name
    text = path.read_text()
    assert "Source" in text or "source" in text, "each case study states its sources"
