"""The builtins cycle checked ahead on an empty cache (mypy_split/head_start.py).

Differential runs on a truly empty cache (the other tests start from a
pre-warmed typeshed cache, where the cycle is fresh and nothing is checked
ahead): the head start is used (the `-v` log says so), the answer is mypy's,
the cycle's serialized symbol tables are byte for byte mypy's, and `mypy`
then answers from our cache as from its own.  A head start that must be
refused (a test variable makes the worker describe `builtins` with another
source hash) changes nothing but the time.  The matching rules themselves
are unit-tested on fake states.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from mypy.options import Options

from mypy_split.build_worker.faults import HEAD_START_JUDGED_LATE
from mypy_split.driver import Parallelism, start_pool_early
from mypy_split.graph import BuildPlan
from mypy_split.head_start import describe, matching_scc, why_not_ahead
from mypy_split.protocol import JsonValue
from mypy_split.test.differential import MYPY, MYPY_SPLIT, RunResult, cache_entries, run_tool
from mypy_split.test.projects import Project, generate

PROJECT: Project = generate(21, modules=24, packages=2, cycles=3, missing=1)
ADOPTED = "checks the builtins cycle (SCC"
REFUSED = "checked the builtins cycle ahead in vain"
# Serialized symbol tables of modules of the builtins cycle, compared with mypy's.
CYCLE_TABLES = (
    "builtins.data.ff", "typing.data.ff", "types.data.ff", "abc.data.ff",
    "collections/__init__.data.ff", "_typeshed/__init__.data.ff",
)


def symbol_tables(cache: Path) -> dict[str, bytes]:
    """The entries named above, by name (file or SQLite store)."""
    found = {}
    for name, data in cache_entries(cache):
        for wanted in CYCLE_TABLES:
            if name.endswith("/" + wanted):
                found[wanted] = data
    return found


@pytest.fixture(scope="module")
def mypy_reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, RunResult, RunResult]:
    """mypy's cold answer on an empty cache, its answer on the cache it left, and that cache."""
    root = tmp_path_factory.mktemp("head-start-mypy")
    project = PROJECT.write(root / "project")
    cache = root / "cache"
    cold = run_tool(MYPY, PROJECT.targets, project, cache, {})
    assert cold.returncode == 1 and "Traceback" not in cold.stderr, cold.describe()
    warm = run_tool(MYPY, PROJECT.targets, project, cache, {})
    return cache, cold, warm


def cold_split_run(tmp_path: Path, workers: int, env: dict[str, str]) -> tuple[Path, Path, RunResult]:
    project = PROJECT.write(tmp_path / "project")
    cache = tmp_path / "cache"
    result = run_tool(MYPY_SPLIT, [*PROJECT.targets, "-n", str(workers), "-v"], project, cache, env)
    return project, cache, result


def assert_mypy_answers(
    result: RunResult, project: Path, cache: Path, reference: tuple[Path, RunResult, RunResult]
) -> None:
    mypy_cache, cold, warm = reference
    assert (result.stdout, result.returncode) == (cold.stdout, cold.returncode), result.describe()
    assert symbol_tables(cache) == symbol_tables(mypy_cache)
    assert len(symbol_tables(cache)) == len(CYCLE_TABLES)
    copy = cache.parent / "cache-copy"
    shutil.copytree(cache, copy, symlinks=True)
    after = run_tool(MYPY, PROJECT.targets, project, copy, {})
    assert (after.stdout, after.returncode) == (warm.stdout, warm.returncode), after.describe()


@pytest.mark.parametrize("workers", [2, 3])
def test_cold_run_checks_builtins_ahead(
    tmp_path: Path, workers: int, mypy_reference: tuple[Path, RunResult, RunResult]
) -> None:
    project, cache, result = cold_split_run(tmp_path, workers, {})
    assert ADOPTED in result.stderr, result.describe()
    assert_mypy_answers(result, project, cache, mypy_reference)


def test_results_that_come_with_the_report(tmp_path: Path, mypy_reference: tuple[Path, RunResult, RunResult]) -> None:
    """The coordinator judges the head start only after the worker is done with the cycle.

    Report and results are then read together (as when a big graph loads
    slower than the cycle is checked): the cycle's importers must still be
    classified, not left waiting (an internal error, "no work is left", once).
    """
    env = {HEAD_START_JUDGED_LATE: "4"}
    project, cache, result = cold_split_run(tmp_path, 2, env)
    assert ADOPTED in result.stderr, result.describe()
    assert_mypy_answers(result, project, cache, mypy_reference)


def test_refused_head_start_changes_nothing_but_time(
    tmp_path: Path, mypy_reference: tuple[Path, RunResult, RunResult]
) -> None:
    env = {"MYPY_SPLIT_TEST_HEAD_START_DIFFERS": "builtins"}
    project, cache, result = cold_split_run(tmp_path, 2, env)
    assert REFUSED in result.stderr and ADOPTED not in result.stderr, result.describe()
    assert_mypy_answers(result, project, cache, mypy_reference)


def test_head_start_can_be_turned_off(tmp_path: Path, mypy_reference: tuple[Path, RunResult, RunResult]) -> None:
    project, cache, result = cold_split_run(tmp_path, 2, {"MYPY_SPLIT_HEAD_START": "0"})
    assert ADOPTED not in result.stderr and REFUSED not in result.stderr, result.describe()
    assert_mypy_answers(result, project, cache, mypy_reference)


def test_a_crash_in_the_head_start_is_retried_then_reported(tmp_path: Path) -> None:
    # Every worker that starts the cycle dies: the head start, then its retry.
    project, cache, result = cold_split_run(tmp_path, 2, {"MYPY_SPLIT_TEST_CRASH_ON": "typing"})
    assert result.returncode == 2, result.describe()
    assert "was lost twice while checking" in result.stdout + result.stderr, result.describe()
    assert "typing" in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


# -- the matching rules, on fake states -----------------------------------------


def fake_state(module_id: str, **changes: Any) -> Any:
    fields: dict[str, Any] = {
        "id": module_id,
        "xpath": f"/typeshed/{module_id}.pyi",
        "source_hash": f"hash-{module_id}",
        "ignore_all": True,
        "dependencies": ["builtins"] if module_id != "builtins" else ["typing"],
        "suppressed": [],
        "priorities": {"builtins": 5},
        "dep_line_map": {"builtins": 1},
    }
    fields.update(changes)
    return SimpleNamespace(**fields)


def fake_plan(states: list[Any], deps: set[int] | None = None) -> tuple[BuildPlan, Any]:
    scc = SimpleNamespace(id=7, mod_ids={state.id for state in states}, deps=deps or set())
    graph = {state.id: state for state in states}
    plan = SimpleNamespace(graph=graph)
    manager = SimpleNamespace(
        scc_by_mod_id={state.id: scc for state in states}, errors=SimpleNamespace(recorded={})
    )
    return cast(BuildPlan, plan), manager


def reports(states: list[Any]) -> list[dict[str, JsonValue]]:
    return [describe(state) for state in states]


def test_a_matching_report_names_the_plans_scc() -> None:
    states = [fake_state("builtins"), fake_state("typing")]
    plan, manager = fake_plan(states)
    assert matching_scc(reports(states), plan, manager) == (7, "")


@pytest.mark.parametrize(
    "change",
    [
        {"source_hash": "edited"},
        {"xpath": "/project/typing.py"},
        {"dependencies": ["builtins", "os"]},
        {"suppressed": ["_missing"]},
        {"priorities": {"builtins": 10}},
        {"dep_line_map": {"builtins": 3}},
        {"ignore_all": False},
    ],
)
def test_a_module_loaded_differently_is_refused(change: dict[str, Any]) -> None:
    worker_states = [fake_state("builtins"), fake_state("typing")]
    plan, manager = fake_plan([fake_state("builtins"), fake_state("typing", **change)])
    scc_id, why = matching_scc(reports(worker_states), plan, manager)
    assert scc_id is None and "typing" in why


def test_other_modules_or_dependencies_are_refused() -> None:
    states = [fake_state("builtins"), fake_state("typing")]
    plan, manager = fake_plan(states[:1])
    assert matching_scc(reports(states), plan, manager)[0] is None
    plan, manager = fake_plan(states, deps={3})
    assert matching_scc(reports(states), plan, manager)[0] is None


def test_errors_to_replay_are_refused() -> None:
    states = [fake_state("builtins"), fake_state("typing")]
    plan, manager = fake_plan(states)
    manager.errors.recorded["/typeshed/typing.pyi"] = ["an import error"]
    assert matching_scc(reports(states), plan, manager) == (None, "typing has errors to replay")


def test_what_a_worker_declines() -> None:
    graph = {"builtins": fake_state("builtins"), "typing": fake_state("typing")}
    ids = set(graph)
    assert why_not_ahead(ids, set(), cast(Any, graph), {"pkg.mod"}) is None
    assert why_not_ahead(ids, {2}, cast(Any, graph), set()) is not None
    assert why_not_ahead({"builtins"}, set(), cast(Any, graph), set()) is not None
    assert why_not_ahead(ids, set(), cast(Any, graph), {"typing"}) == "typing is among the sources"
    graph["typing"] = fake_state("typing", ignore_all=False)
    assert why_not_ahead(ids, set(), cast(Any, graph), set()) == "errors in typing would be shown"


def test_dump_graph_starts_no_worker_and_writes_what_mypy_writes(tmp_path: Path) -> None:
    """`--dump-graph` checks nothing: no worker starts early, and no head start writes the builtins cycle.

    (On a graph this small the coordinator ended the run before a head start
    could commit anything; on a big one it could commit first.)
    """
    options = Options()
    options.dump_graph = True
    assert start_pool_early(options, Parallelism(workers=2, argv=[], cwd=str(tmp_path), cold_cache=True)) is None
    project = PROJECT.write(tmp_path / "project")
    args = [*PROJECT.targets, "--dump-graph"]
    expected = run_tool(MYPY, args, project, tmp_path / "mypy-cache", {})
    ours = run_tool(MYPY_SPLIT, [*args, "-n", "2", "-v"], project, tmp_path / "cache", {})
    assert (ours.stdout, ours.returncode) == (expected.stdout, expected.returncode), ours.describe()
    assert expected.stdout.startswith("["), expected.describe()
    assert ADOPTED not in ours.stderr and REFUSED not in ours.stderr, ours.describe()
    assert symbol_tables(tmp_path / "cache") == symbol_tables(tmp_path / "mypy-cache") == {}
