"""The pure schedulers: mypy's sequential loop, and the parallel one."""

from __future__ import annotations

import math
import random

import pytest

from mypy_split.graph import SccNode
from mypy_split.schedule import (
    Classify,
    Finished,
    INTERFACE_SHARE,
    ParallelScheduler,
    PhaseCost,
    RunImplementation,
    RunInterface,
    ScheduleError,
    SequentialLoop,
    CriticalPaths,
    critical_paths,
)


def make_nodes(deps: dict[int, list[int]], sizes: dict[int, int] | None = None) -> list[SccNode]:
    """Nodes in the given (topological) order; dependents listed in that order too."""
    dependents: dict[int, list[int]] = {scc_id: [] for scc_id in deps}
    for scc_id, scc_deps in deps.items():
        for dep in scc_deps:
            dependents[dep].append(scc_id)
    return [
        SccNode(
            id=scc_id,
            deps=frozenset(scc_deps),
            dependents=tuple(dependents[scc_id]),
            modules=(f"m{scc_id}",),
            size_hint=(sizes or {}).get(scc_id, 1),
        )
        for scc_id, scc_deps in deps.items()
    ]


# 0 and 1 are leaves; 2 needs both; 3 needs 2.
DIAMOND = {0: [], 1: [], 2: [0, 1], 3: [2]}


def test_sequential_all_stale_processes_one_scc_per_round() -> None:
    loop = SequentialLoop(make_nodes(DIAMOND))
    assert loop.start() == Classify((0, 1))
    assert loop.classified(fresh=[], stale=[0, 1]) == RunInterface(0)
    assert loop.interface_done(0) == RunImplementation(0)
    # 0 done releases nothing (2 also waits on 1), so the queue goes on.
    assert loop.implementation_done(0) == RunInterface(1)
    assert loop.interface_done(1) == RunImplementation(1)
    assert loop.implementation_done(1) == Classify((2,))
    assert loop.classified(fresh=[], stale=[2]) == RunInterface(2)
    loop.interface_done(2)
    assert loop.implementation_done(2) == Classify((3,))
    assert loop.classified(fresh=[3], stale=[]) == Finished()
    assert loop.done == frozenset({0, 1, 2, 3})


def test_sequential_fresh_round_processes_no_stale_scc() -> None:
    loop = SequentialLoop(make_nodes({0: [], 1: [], 2: [0]}))
    assert loop.start() == Classify((0, 1))
    # 1 is stale but 0 is fresh: the round ends with 0 done, and the next
    # round classifies 2 before the queued 1 is processed.
    assert loop.classified(fresh=[0], stale=[1]) == Classify((2,))
    assert loop.classified(fresh=[], stale=[2]) == RunInterface(1)
    loop.interface_done(1)
    assert loop.implementation_done(1) == RunInterface(2)


def test_sequential_ready_order_follows_dependents_order() -> None:
    # 3 and 2 both depend only on 0; 0 lists its dependents as [3, 2].
    nodes = [
        SccNode(0, frozenset(), (3, 2), ("a",), 1),
        SccNode(2, frozenset({0}), (), ("b",), 1),
        SccNode(3, frozenset({0}), (), ("c",), 1),
    ]
    loop = SequentialLoop(nodes)
    assert loop.start() == Classify((0,))
    assert loop.classified(fresh=[0], stale=[]) == Classify((3, 2))


def test_sequential_rejects_out_of_order_events() -> None:
    loop = SequentialLoop(make_nodes(DIAMOND))
    loop.start()
    with pytest.raises(ScheduleError):
        loop.interface_done(0)
    with pytest.raises(ScheduleError):
        loop.classified(fresh=[0], stale=[])  # 1 left unanswered


def test_sequential_detects_an_impossible_graph() -> None:
    nodes = [SccNode(0, frozenset({1}), (), ("a",), 1), SccNode(1, frozenset({0}), (), ("b",), 1)]
    with pytest.raises(ScheduleError, match="can never become ready"):
        SequentialLoop(nodes).start()


def test_critical_path_runs_through_interfaces_and_ends_in_one_implementation() -> None:
    nodes = make_nodes({0: [], 1: [0], 2: [0], 3: [1]})
    costs = {
        0: PhaseCost(1.0, 20.0),
        1: PhaseCost(2.0, 1.0),
        2: PhaseCost(1.0, 1.0),
        3: PhaseCost(4.0, 6.0),
    }
    paths = critical_paths(nodes, costs)
    assert paths[3] == 10.0
    assert paths[2] == 2.0
    assert paths[1] == 2.0 + 10.0  # dependents wait for 1's interface only
    assert paths[0] == 1.0 + 20.0  # its own long implementation beats the chain


class CountingCosts(dict[int, PhaseCost]):
    """Costs that remember which SCCs were looked at."""

    def __init__(self, costs: dict[int, PhaseCost]) -> None:
        super().__init__(costs)
        self.seen: set[int] = set()

    def get(self, key: int, default: PhaseCost | None = None) -> PhaseCost | None:  # type: ignore[override]
        self.seen.add(key)
        return super().get(key, default)


@pytest.mark.parametrize("order", [[0, 1, 2, 3, 4, 5], [5, 4, 3, 2, 1, 0], [2, 0, 5, 1, 4, 3]])
def test_critical_paths_on_demand_agree_in_any_order(order: list[int]) -> None:
    # A diamond (1 and 2 both need 0; 3 needs both) with a tail, and a loose leaf 5.
    nodes = make_nodes({0: [], 1: [0], 2: [0], 3: [1, 2], 4: [3], 5: []}, sizes={i: i + 1 for i in range(6)})
    costs = {i: PhaseCost(0.5 * i, float(6 - i)) for i in range(6)}
    expected = critical_paths(nodes, costs)
    lazy = CriticalPaths(nodes, costs)
    assert [lazy[scc_id] for scc_id in order] == [expected[scc_id] for scc_id in order]
    assert lazy.everything() == expected


def test_a_leafs_critical_path_looks_at_nothing_else() -> None:
    nodes = make_nodes({0: [], 1: [0], 2: [1], 3: [0]})
    costs = CountingCosts({i: PhaseCost(1.0, 1.0) for i in range(4)})
    lazy = CriticalPaths(nodes, costs)
    assert lazy[3] == 2.0
    assert costs.seen == {3}
    assert lazy[1] == 3.0
    assert costs.seen == {1, 2, 3}


def test_critical_path_without_costs_uses_sizes() -> None:
    nodes = make_nodes({0: [], 1: [0]}, sizes={0: 10, 1: 10})
    paths = critical_paths(nodes)
    assert paths[1] == 10.0
    assert paths[0] == pytest.approx(10 * INTERFACE_SHARE + 10.0)


def test_parallel_runs_longest_critical_path_first() -> None:
    nodes = make_nodes({0: [], 1: [], 2: [1]}, sizes={0: 3, 1: 1, 2: 10})
    scheduler = ParallelScheduler(nodes)
    for scc_id in scheduler.take_classifiable():
        scheduler.classified(scc_id, fresh=False)
    assert scheduler.next_task() == 1  # 1 + 10 beats 3
    assert scheduler.next_task() == 0
    assert scheduler.next_task() is None


def test_parallel_interface_unblocks_dependents_before_implementation() -> None:
    scheduler = ParallelScheduler(make_nodes(DIAMOND))
    assert scheduler.take_classifiable() == [0, 1]
    scheduler.classified(0, fresh=True)
    scheduler.classified(1, fresh=False)
    assert scheduler.take_classifiable() == []
    assert scheduler.next_task() == 1
    scheduler.interface_done(1)
    assert scheduler.take_classifiable() == [2]
    assert not scheduler.finished
    scheduler.classified(2, fresh=True)
    scheduler.implementation_done(1)
    assert scheduler.take_classifiable() == [3]
    scheduler.classified(3, fresh=True)
    assert scheduler.finished


def test_parallel_lost_task_is_queued_again_and_reported_once() -> None:
    scheduler = ParallelScheduler(make_nodes({0: [], 1: [0]}))
    scheduler.classified(scheduler.take_classifiable()[0], fresh=False)
    assert scheduler.next_task() == 0
    scheduler.interface_done(0)
    assert scheduler.take_classifiable() == [1]
    scheduler.task_lost(0)
    assert scheduler.next_task() == 0
    scheduler.interface_done(0)  # the retry reports again: no second release
    assert scheduler.take_classifiable() == []


def test_parallel_withdrawn_task_leaves_the_queue() -> None:
    scheduler = ParallelScheduler(make_nodes({0: [], 1: []}))
    for scc_id in scheduler.take_classifiable():
        scheduler.classified(scc_id, fresh=False)
    scheduler.withdraw(0)
    assert scheduler.next_task() == 1
    assert scheduler.next_task() is None



def test_longest_unstarted_path_ignores_running_done_and_the_one_aside() -> None:
    nodes = make_nodes({0: [], 1: [0], 2: [0], 3: [2]})
    costs = {0: PhaseCost(1.0, 5.0), 1: PhaseCost(1.0, 1.0), 2: PhaseCost(2.0, 1.0), 3: PhaseCost(1.0, 3.0)}
    scheduler = ParallelScheduler(nodes, costs)
    # 0: 1 + max(5, 6) = 7; 2: 2 + max(1, 4) = 6; 3: 4; 1: 2.
    assert scheduler.longest_unstarted_path(besides=0) == 6.0
    scheduler.take_classifiable()
    scheduler.classified(0, fresh=False)
    assert scheduler.next_task() == 0
    scheduler.interface_done(0)
    for scc_id in scheduler.take_classifiable():
        scheduler.classified(scc_id, fresh=False)
    assert scheduler.next_task() == 2  # the longer path first
    assert scheduler.longest_unstarted_path(besides=0) == 4.0  # 3 waits for 2
    assert scheduler.longest_unstarted_path(besides=3) == 2.0


def test_rest_of_build_counts_the_chains_and_the_work_left_beside_one_scc() -> None:
    nodes = make_nodes({0: [], 1: [0], 2: [0], 3: [2]})
    costs = {0: PhaseCost(1.0, 5.0), 1: PhaseCost(1.0, 1.0), 2: PhaseCost(2.0, 1.0), 3: PhaseCost(1.0, 3.0)}
    scheduler = ParallelScheduler(nodes, costs)
    # Nothing started: beside 0, the chain 2 -> 3 (6 s) and 9 s of work.
    assert scheduler.rest_of_build(0, {}, workers=1) == 9.0
    assert scheduler.rest_of_build(0, {}, workers=4) == 6.0
    assert scheduler.rest_of_build(0, {}, workers=0) == math.inf
    scheduler.take_classifiable()
    scheduler.classified(0, fresh=False)
    scheduler.next_task()
    scheduler.interface_done(0)
    for scc_id in scheduler.take_classifiable():
        scheduler.classified(scc_id, fresh=False)
    assert scheduler.next_task() == 2
    # 2 ran 1 s of its 3: 2 s left of it and 5 s of its chain; with 1 and 3, 8 s of work.
    assert scheduler.rest_of_build(0, {0: 4.0, 2: 1.0}, workers=1) == 8.0
    assert scheduler.rest_of_build(0, {0: 4.0, 2: 1.0}, workers=2) == 5.0
    # A running SCC past its expected time counts as done: 6 s of work left in 1 and 3.
    assert scheduler.rest_of_build(0, {2: 9.0}, workers=1) == 6.0


def test_next_small_task_takes_the_head_of_the_queue_only_when_it_is_small() -> None:
    nodes = make_nodes({0: [], 1: [], 2: []})
    costs = {0: PhaseCost(0.5, 0.5), 1: PhaseCost(0.004, 0.004), 2: PhaseCost(0.002, 0.001)}
    scheduler = ParallelScheduler(nodes, costs)
    for scc_id in scheduler.take_classifiable():
        scheduler.classified(scc_id, fresh=False)
    # 0 goes first and is big: it is left for a free worker, and nothing behind it jumps ahead.
    assert scheduler.next_small_task(0.02) is None
    assert scheduler.next_task() == 0
    assert scheduler.next_small_task(0.005) is None  # 1 costs 0.008
    assert scheduler.next_small_task(0.02) == 1
    assert scheduler.next_small_task(0.02) == 2
    assert scheduler.next_small_task(0.02) is None
    # Taken like next_task: a lost one comes back.
    scheduler.task_lost(1)
    assert scheduler.next_task() == 1


def test_unstarted_work_leaves_with_each_start_and_comes_back_with_a_lost_task() -> None:
    nodes = make_nodes({0: [], 1: [0], 2: [0], 3: [2]})
    costs = {0: PhaseCost(1.0, 5.0), 1: PhaseCost(1.0, 1.0), 2: PhaseCost(2.0, 1.0), 3: PhaseCost(1.0, 3.0)}
    scheduler = ParallelScheduler(nodes, costs)
    scheduler.take_classifiable()
    scheduler.classified(0, fresh=False)
    assert scheduler.next_task() == 0  # started before anyone asked
    assert scheduler.unstarted_work() == 9.0  # 1, 2 and 3, blocked or not
    scheduler.interface_done(0)
    scheduler.take_classifiable()
    scheduler.classified(1, fresh=True)
    assert scheduler.unstarted_work() == 7.0
    scheduler.classified(2, fresh=False)
    assert scheduler.unstarted_work() == 7.0  # queued is not started
    assert scheduler.next_task() == 2
    assert scheduler.unstarted_work() == 4.0
    scheduler.task_lost(2)
    scheduler.task_lost(2)  # no second return
    assert scheduler.unstarted_work() == 7.0
    scheduler.take(2)
    scheduler.take(2)  # no second start
    assert scheduler.unstarted_work() == 4.0
    scheduler.withdraw(2)  # already counted as started
    scheduler.withdraw(3)  # blocked, taken out for another executor
    assert scheduler.unstarted_work() == 0.0


@pytest.mark.parametrize("seed", range(20))
def test_unstarted_work_agrees_with_its_definition_after_any_events(seed: int) -> None:
    """Kept up to date step by step, it equals the cost of the SCCs never started, found fresh or taken out."""
    chooser = random.Random(seed)
    count = 12
    deps = {scc_id: chooser.sample(range(scc_id), min(scc_id, chooser.randint(0, 2))) for scc_id in range(count)}
    costs = {scc_id: PhaseCost(chooser.uniform(0, 2), chooser.uniform(0, 2)) for scc_id in range(count)}
    scheduler = ParallelScheduler(make_nodes(deps), costs)
    gone: set[int] = set()  # started, found fresh or taken out
    running: list[int] = []
    asked = False
    for _ in range(60):
        if not asked and chooser.random() < 0.3:
            asked = True  # from now on kept up to date
        for scc_id in scheduler.take_classifiable():
            fresh = chooser.random() < 0.3
            scheduler.classified(scc_id, fresh)
            gone.update([scc_id] if fresh else [])
        action = chooser.choice(["start", "start", "interface", "lose", "withdraw"])
        if action == "start" and (started := scheduler.next_task()) is not None:
            running.append(started)
            gone.add(started)
        elif action == "interface" and running:
            scc_id = running.pop(chooser.randrange(len(running)))
            scheduler.interface_done(scc_id)
            scheduler.implementation_done(scc_id)
        elif action == "lose" and running:
            scc_id = running.pop(chooser.randrange(len(running)))
            scheduler.task_lost(scc_id)
            gone.discard(scc_id)
        elif action == "withdraw" and (queued := scheduler.queued_in_order()):
            scc_id = chooser.choice(queued)
            scheduler.withdraw(scc_id)
            gone.add(scc_id)
        if asked:
            expected = sum(sum(cost) for scc_id, cost in costs.items() if scc_id not in gone)
            assert scheduler.unstarted_work() == pytest.approx(expected)


def test_actions_are_equal_only_to_the_same_kind_with_the_same_fields() -> None:
    """The loop checks each answer against the action it expects: kinds must never compare equal."""
    assert RunInterface(1) == RunInterface(1)
    assert RunInterface(1) != RunImplementation(1)
    assert RunInterface(1) != RunInterface(2)
    assert Classify((1,)) != (1,)
    assert Finished() == Finished()
    assert len({RunInterface(1), RunInterface(1), RunImplementation(1)}) == 2
    assert repr(Classify((0, 1))) == "Classify((0, 1))"
