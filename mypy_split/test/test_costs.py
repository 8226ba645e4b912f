"""The cost model: measurements saved next to the cache, estimates for the rest."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest
from mypy.build import SCC, Graph

from mypy_split.costs import (
    COST_FILE,
    DEFAULT_RATE,
    IGNORED_WEIGHTS,
    SOURCE_WEIGHTS,
    STUB_WEIGHTS,
    CostModel,
    LazyCosts,
    SizeWeights,
    read_costs,
)
from mypy_split.graph import BuildPlan, SccNode
from mypy_split.schedule import PhaseCost


def fake_state(path: Path, meta: object = None, ignore_all: bool = False) -> SimpleNamespace:
    return SimpleNamespace(
        path=str(path), meta=meta, ignore_all=ignore_all, options=SimpleNamespace(ignore_errors=False)
    )


def fake_graph(sizes: dict[str, int], folder: Path, suffix: str = ".py", ignore_all: bool = False) -> Graph:
    """States with a path to a source file of the given size, and no cache entry."""
    graph = {}
    for module_id, size in sizes.items():
        path = folder / f"{module_id}{suffix}"
        path.write_text("x" * size)
        graph[module_id] = fake_state(path, ignore_all=ignore_all)
    return cast(Graph, graph)


def weighted(size: int, weights: SizeWeights = SOURCE_WEIGHTS) -> PhaseCost:
    return PhaseCost(size * weights.interface + weights.fixed_interface, size * weights.implementation)


def fake_plan(graph: Graph, sccs: list[set[str]]) -> BuildPlan:
    engine_sccs = [SCC(modules, scc_id=index, deps=[]) for index, modules in enumerate(sccs)]
    nodes = [SccNode(index, frozenset(), (), tuple(sorted(modules)), 1) for index, modules in enumerate(sccs)]
    return BuildPlan(graph=graph, sccs=engine_sccs, nodes=nodes)


def test_measurements_are_shared_by_weighted_size_and_survive_a_save(tmp_path: Path) -> None:
    path = str(tmp_path / "3.11" / COST_FILE)
    graph = fake_graph({"a": 300, "b": 100}, tmp_path)
    model = CostModel({}, path)
    model.record({"a", "b"}, graph, interface=4.0, implementation=8.0)
    model.save()
    a, b = weighted(300), weighted(100)
    a_interface = 4.0 * a.interface / (a.interface + b.interface)
    saved = read_costs(path)
    assert set(saved) == {"a", "b"}
    assert saved["a"].interface == pytest.approx(a_interface)
    assert saved["b"].interface == pytest.approx(4.0 - a_interface)
    # Checked modules' bodies weigh by size alone.
    assert (saved["a"].implementation, saved["b"].implementation) == pytest.approx((6.0, 2.0))


def test_a_cycles_measured_bodies_go_to_its_checked_modules_not_its_stubs(tmp_path: Path) -> None:
    sizes = {"checked": 100_000}, {"stub": 100_000}
    graph = {**fake_graph(sizes[0], tmp_path), **fake_graph(sizes[1], tmp_path, suffix=".pyi")}
    model = CostModel({}, None)
    model.record({"checked", "stub"}, graph, interface=1.0, implementation=1.0)
    assert model.measured["stub"].interface > model.measured["checked"].interface
    assert model.measured["checked"].implementation > 0.9


def test_a_save_keeps_older_entries_of_modules_not_checked_now(tmp_path: Path) -> None:
    path = str(tmp_path / COST_FILE)
    graph = fake_graph({"a": 1, "b": 1}, tmp_path)
    first = CostModel({}, path)
    first.record({"a"}, graph, 1.0, 2.0)
    first.save()
    second = CostModel(read_costs(path), path)
    second.record({"b"}, graph, 3.0, 4.0)
    second.save()
    assert read_costs(path) == {"a": PhaseCost(1.0, 2.0), "b": PhaseCost(3.0, 4.0)}


def test_unmeasured_modules_are_estimated_at_the_measured_rate(tmp_path: Path) -> None:
    graph = fake_graph({"known": 1000, "new": 500}, tmp_path)
    model = CostModel({"known": PhaseCost(1.0, 3.0)}, None)
    costs = model.scc_costs(fake_plan(graph, [{"known"}, {"new"}]))
    assert costs[0] == PhaseCost(1.0, 3.0)
    # 4 s for the known module's weighted bytes, so the new one's are worth as many seconds each.
    rate = 4.0 / sum(weighted(1000))
    assert costs[1].interface == pytest.approx(weighted(500).interface * rate)
    assert costs[1].implementation == pytest.approx(weighted(500).implementation * rate)


def test_a_module_loaded_from_cache_is_sized_by_its_entry(tmp_path: Path) -> None:
    """A warm run reads sizes from the cache entries: no source file is read (here, none exists)."""
    graph = cast(Graph, {
        "known": fake_state(tmp_path / "gone.py", meta=SimpleNamespace(size=1000)),
        "new": fake_state(tmp_path / "also_gone.py", meta=SimpleNamespace(size=500)),
    })
    model = CostModel({"known": PhaseCost(1.0, 3.0)}, None)
    costs = model.scc_costs(fake_plan(graph, [{"known"}, {"new"}]))
    assert sum(costs[1]) == pytest.approx(4.0 * sum(weighted(500)) / sum(weighted(1000)))


def test_without_measurements_the_default_rate_applies(tmp_path: Path) -> None:
    graph = fake_graph({"m": 1000}, tmp_path)
    costs = CostModel({}, None).scc_costs(fake_plan(graph, [{"m"}]))
    assert costs[0].interface == pytest.approx((300 + 2000) * DEFAULT_RATE)
    assert costs[0].implementation == pytest.approx(1000 * DEFAULT_RATE)


def test_a_checked_module_costs_mostly_bodies(tmp_path: Path) -> None:
    graph = fake_graph({"m": 100_000}, tmp_path)
    cost = CostModel({}, None).scc_costs(fake_plan(graph, [{"m"}]))[0]
    assert 0.6 < cost.implementation / sum(cost) < 0.9


@pytest.mark.parametrize("kind", ["stub", "ignored"])
def test_stubs_and_modules_with_errors_ignored_cost_mostly_their_interface(tmp_path: Path, kind: str) -> None:
    if kind == "stub":
        graph, weights = fake_graph({"m": 1000}, tmp_path, suffix=".pyi"), STUB_WEIGHTS
    else:
        graph, weights = fake_graph({"m": 1000}, tmp_path, ignore_all=True), IGNORED_WEIGHTS
    cost = CostModel({}, None).scc_costs(fake_plan(graph, [{"m"}]))[0]
    assert cost.interface == pytest.approx(1000 * weights.interface * DEFAULT_RATE)
    assert cost.implementation == pytest.approx(1000 * weights.implementation * DEFAULT_RATE)
    assert cost.implementation < 0.2 * cost.interface


def test_a_stub_byte_costs_more_than_a_byte_of_declarations_whose_bodies_are_dropped() -> None:
    """Checking a stub is all declarations; an ignored module's parser drops its function bodies."""
    assert sum(STUB_WEIGHTS) > sum(IGNORED_WEIGHTS)
    assert SOURCE_WEIGHTS.implementation > SOURCE_WEIGHTS.interface


@pytest.mark.parametrize(
    "content",
    ["not json", '{"version": 99, "modules": {}}', '{"version": 1, "modules": {"a": {"interface": "x"}}}', "[]"],
)
def test_a_damaged_or_foreign_file_means_estimates(tmp_path: Path, content: str) -> None:
    path = tmp_path / COST_FILE
    path.write_text(content)
    assert read_costs(str(path)) == {}


def test_an_unwritable_folder_is_not_an_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    model = CostModel({}, str(blocker / "sub" / COST_FILE))
    model.record({"a"}, fake_graph({"a": 1}, tmp_path), 1.0, 1.0)
    model.save()  # must not raise
    assert not (blocker / "sub").exists()


def test_bodies_and_interface_of_a_cycle_keep_the_module_order(tmp_path: Path) -> None:
    graph = fake_graph({"known": 1000, "new": 500}, tmp_path)
    model = CostModel({"known": PhaseCost(1.0, 3.0)}, None)
    bodies, interface = model.bodies_and_interface(["new", "known"], graph)
    assert list(bodies) == ["new", "known"]
    assert bodies["known"] == 3.0
    rate = 4.0 / sum(weighted(1000))
    assert bodies["new"] == pytest.approx(weighted(500).implementation * rate)
    assert interface == pytest.approx(1.0 + weighted(500).interface * rate)


def test_lazy_costs_are_the_plans_costs_computed_one_scc_at_a_time(tmp_path: Path) -> None:
    graph = fake_graph({"known": 1000, "new": 500, "other": 200}, tmp_path)
    plan = fake_plan(graph, [{"known"}, {"new", "other"}])
    model = CostModel({"known": PhaseCost(1.0, 3.0)}, None)
    lazy = LazyCosts(model, plan)
    assert lazy[1] == model.scc_costs(plan)[1]
    assert dict(lazy) == model.scc_costs(plan)
    assert len(lazy) == 2 and list(lazy) == [0, 1]
