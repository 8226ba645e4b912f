"""The cost model: measurements saved next to the cache, estimates for the rest."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest
from mypy.build import SCC, Graph

from mypy_split.costs import COST_FILE, DEFAULT_RATE, CostModel, LazyCosts, read_costs
from mypy_split.graph import BuildPlan, SccNode
from mypy_split.schedule import INTERFACE_SHARE, PhaseCost


def fake_graph(sizes: dict[str, int], folder: Path, suffix: str = ".py") -> Graph:
    """States with a path to a source file of the given size, and no cache entry."""
    graph = {}
    for module_id, size in sizes.items():
        path = folder / f"{module_id}{suffix}"
        path.write_text("x" * size)
        graph[module_id] = SimpleNamespace(path=str(path), meta=None)
    return cast(Graph, graph)


def fake_plan(graph: Graph, sccs: list[set[str]]) -> BuildPlan:
    engine_sccs = [SCC(modules, scc_id=index, deps=[]) for index, modules in enumerate(sccs)]
    nodes = [SccNode(index, frozenset(), (), tuple(sorted(modules)), 1) for index, modules in enumerate(sccs)]
    return BuildPlan(graph=graph, sccs=engine_sccs, nodes=nodes)


def test_measurements_are_shared_by_size_and_survive_a_save(tmp_path: Path) -> None:
    path = str(tmp_path / "3.11" / COST_FILE)
    graph = fake_graph({"a": 300, "b": 100}, tmp_path)
    model = CostModel({}, path)
    model.record({"a", "b"}, graph, interface=4.0, implementation=8.0)
    model.save()
    assert read_costs(path) == {"a": PhaseCost(3.0, 6.0), "b": PhaseCost(1.0, 2.0)}


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
    # 4 s per 1000 units measured, so 500 units are worth 2 s, split by the default share.
    assert costs[1].interface == pytest.approx(2.0 * INTERFACE_SHARE)
    assert costs[1].implementation == pytest.approx(2.0 * (1 - INTERFACE_SHARE))


def test_a_module_loaded_from_cache_is_sized_by_its_entry(tmp_path: Path) -> None:
    """A warm run reads sizes from the cache entries: no source file is read (here, none exists)."""
    graph = cast(Graph, {
        "known": SimpleNamespace(path=str(tmp_path / "gone.py"), meta=SimpleNamespace(size=1000)),
        "new": SimpleNamespace(path=str(tmp_path / "also_gone.py"), meta=SimpleNamespace(size=500)),
    })
    model = CostModel({"known": PhaseCost(1.0, 3.0)}, None)
    costs = model.scc_costs(fake_plan(graph, [{"known"}, {"new"}]))
    assert costs[1].interface + costs[1].implementation == pytest.approx(2.0)


def test_without_measurements_the_default_rate_applies(tmp_path: Path) -> None:
    graph = fake_graph({"m": 1000}, tmp_path)
    costs = CostModel({}, None).scc_costs(fake_plan(graph, [{"m"}]))
    assert costs[0].interface + costs[0].implementation == pytest.approx(1000 * DEFAULT_RATE)


def test_a_stub_costs_only_its_interface(tmp_path: Path) -> None:
    graph = fake_graph({"s": 1000}, tmp_path, suffix=".pyi")
    costs = CostModel({}, None).scc_costs(fake_plan(graph, [{"s"}]))
    assert costs[0] == PhaseCost(1000 * DEFAULT_RATE, 0.0)


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
    assert bodies["new"] == pytest.approx(2.0 * (1 - INTERFACE_SHARE))
    assert interface == pytest.approx(1.0 + 2.0 * INTERFACE_SHARE)


def test_lazy_costs_are_the_plans_costs_computed_one_scc_at_a_time(tmp_path: Path) -> None:
    graph = fake_graph({"known": 1000, "new": 500, "other": 200}, tmp_path)
    plan = fake_plan(graph, [{"known"}, {"new", "other"}])
    model = CostModel({"known": PhaseCost(1.0, 3.0)}, None)
    lazy = LazyCosts(model, plan)
    assert lazy[1] == model.scc_costs(plan)[1]
    assert dict(lazy) == model.scc_costs(plan)
    assert len(lazy) == 2 and list(lazy) == [0, 1]
