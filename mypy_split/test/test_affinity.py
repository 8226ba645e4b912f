"""Memory affinity: what a task needs in memory, what an executor misses, which task it takes."""

from __future__ import annotations

import pytest

from mypy_split.affinity import LOCAL, MemoryAffinity, choose_task
from mypy_split.build_worker.faults import AWAY_FROM_DEPENDENCIES, placed_away
from mypy_split.schedule import ParallelScheduler
from mypy_split.sensitive import Sensitivity
from mypy_split.test.test_schedule import make_nodes

# 0 -> 1 -> 2 -> 4 and 0 -> 3 -> 4: a chain and a side branch joining at 4.
DIAMOND = {0: [], 1: [0], 2: [1], 3: [0], 4: [2, 3]}
NONE, MESSAGES, BINDING = Sensitivity.NONE, Sensitivity.MESSAGES, Sensitivity.BINDING


def test_needs_are_the_sensitive_transitive_dependencies() -> None:
    affinity = MemoryAffinity(make_nodes(DIAMOND), kept=BINDING)
    for scc_id in DIAMOND:
        affinity.checked(scc_id, BINDING if scc_id in (1, 3) else NONE)
    assert affinity.constrained
    assert affinity.needs(0) == frozenset()
    assert affinity.needs(1) == frozenset()
    # 2 reaches 1 directly; 4 reaches 1 through 2 (not sensitive) and 3 directly.
    assert affinity.needs(2) == {1}
    assert affinity.needs(4) == {1, 3}


def test_nothing_sensitive_constrains_nothing() -> None:
    affinity = MemoryAffinity(make_nodes(DIAMOND), kept=BINDING)
    for scc_id in DIAMOND:
        affinity.checked(scc_id, NONE)
    assert not affinity.constrained
    assert affinity.missing(4, 0) == []


def test_a_deep_chain_needs_no_deep_recursion() -> None:
    depth = 5000
    affinity = MemoryAffinity(make_nodes({i: [i - 1] if i else [] for i in range(depth)}), kept=BINDING)
    affinity.checked(0, BINDING)
    assert affinity.needs(depth - 1) == {0}


def test_missing_is_what_the_executor_does_not_hold_in_dependency_order() -> None:
    affinity = MemoryAffinity(make_nodes(DIAMOND), kept=BINDING)
    for scc_id in (0, 1, 3):
        affinity.checked(scc_id, BINDING)
    affinity.assign(0, executor=0)
    affinity.assign(3, executor=1)
    assert affinity.missing(4, 0) == [1, 3]
    assert affinity.missing(4, 1) == [0, 1]
    # A task sent with SCCs to check again leaves them held there too.
    affinity.assign(2, executor=1, rechecked=[0, 1])
    assert affinity.missing(4, 1) == []
    assert affinity.missing(4, LOCAL) == [0, 1, 3]
    # A lost worker's memory is gone.
    affinity.forget(1)
    assert affinity.missing(4, 1) == [0, 1, 3]


def test_held_count_and_the_test_placement_away_from_dependencies(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test setting sends a task to the idle worker holding fewest of its dependencies."""
    affinity = MemoryAffinity(make_nodes(DIAMOND), kept=BINDING)
    affinity.assign(0, executor=0)
    affinity.assign(2, executor=0)
    affinity.assign(3, executor=1)
    assert affinity.held_count(0, DIAMOND[4]) == 1
    assert affinity.held_count(2, DIAMOND[4]) == 0
    checked = lambda executor: affinity.held_count(executor, DIAMOND[4])  # noqa: E731
    monkeypatch.delenv(AWAY_FROM_DEPENDENCIES, raising=False)
    assert placed_away(0, [1, 2], checked) == 0
    monkeypatch.setenv(AWAY_FROM_DEPENDENCIES, "1")
    assert placed_away(0, [1, 2], checked) == 2
    # Ties keep the worker that asked.
    assert placed_away(1, [0], checked) == 1


def test_workers_keep_the_kept_level_and_this_process_both() -> None:
    """By default a worker needs binding-sensitive SCCs only; this process needs the messages ones too."""
    affinity = MemoryAffinity(make_nodes(DIAMOND), kept=BINDING)
    affinity.checked(1, BINDING)
    affinity.checked(3, MESSAGES)
    assert affinity.needs(4) == {1}
    assert affinity.needs(4, MESSAGES) == {1, 3}
    assert affinity.missing(4, 0) == [1]
    assert affinity.missing(4, LOCAL) == [1, 3]
    exact = MemoryAffinity(make_nodes(DIAMOND), kept=MESSAGES)
    exact.checked(3, MESSAGES)
    assert exact.constrained
    assert exact.missing(4, 0) == [3]


def test_placement_records_what_the_task_sees_from_the_cache() -> None:
    """The messages-sensitive needs an executor does not hold when it is given the task."""
    affinity = MemoryAffinity(make_nodes(DIAMOND), kept=BINDING)
    affinity.checked(1, MESSAGES)
    affinity.checked(3, MESSAGES)
    assert not affinity.constrained
    affinity.assign(1, executor=0)
    affinity.assign(3, executor=1)
    # Worker 0 holds 1 and loads 3 from the cache.
    affinity.assign(4, executor=0)
    assert affinity.seen_from_cache(4) == {3}
    # What a task checks again first is in memory: this process misses nothing.
    affinity.assign(2, executor=LOCAL, rechecked=affinity.missing(2, LOCAL))
    assert affinity.seen_from_cache(2) == set()
    # Each executor of a task (helpers of a shared SCC, a second attempt) adds its own.
    affinity.assign(2, executor=1)
    assert affinity.seen_from_cache(2) == {1}
    assert affinity.seen_from_cache(0) == set()
    # What a placement saw is what the executor held then, whatever it holds or forgets later.
    affinity.assign(3, executor=0)
    assert affinity.seen_from_cache(4) == {3}
    affinity.forget(0)
    affinity.assign(1, executor=0)
    assert affinity.seen_from_cache(4) == {3}
    assert affinity.seen_from_cache(1) == set()


def test_choose_prefers_a_task_that_misses_nothing_then_the_cheapest_recheck() -> None:
    missing = {5: [1, 2], 6: [3], 7: []}
    cost = {1: 1.0, 2: 1.0, 3: 1.5}

    def price(ids: list[int]) -> float:
        return sum(cost[i] for i in ids)

    assert choose_task([5, 6, 7], missing.__getitem__, price) == (7, [])
    # Without a free task: the cheaper recheck wins over priority.
    assert choose_task([5, 6], missing.__getitem__, price) == (6, [3])
    # Equal prices: priority order decides.
    cost[3] = 2.0
    assert choose_task([5, 6], missing.__getitem__, price) == (5, [1, 2])
    assert choose_task([], missing.__getitem__, price) is None


def test_scheduler_takes_a_task_out_of_priority_order() -> None:
    scheduler = ParallelScheduler(make_nodes({0: [], 1: [], 2: []}, sizes={0: 1, 1: 5, 2: 3}))
    for scc_id in scheduler.take_classifiable():
        scheduler.classified(scc_id, fresh=False)
    assert scheduler.queued_in_order() == [1, 2, 0]
    scheduler.take(2)
    assert scheduler.queued_in_order() == [1, 0]
    assert scheduler.next_task() == 1
    assert scheduler.next_task() == 0
    assert scheduler.next_task() is None
