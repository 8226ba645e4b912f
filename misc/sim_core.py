"""The scheduling simulator's core: SCC costs, a DAG and N workers to a wall time.

Pure and deterministic: it drives our real `ParallelScheduler` through the
same calls the coordinator makes (classify, next task, interface done,
implementation done) on a clock instead of on workers, so a change to the
scheduler shows here at once.  The model of one build:

- nothing can run for `serial_start` seconds (process start, graph loading);
- each worker becomes available `worker_start` seconds after that;
- a task is one SCC on one worker: `per_task` seconds of overhead (dispatch,
  loading its dependencies), its interface phase, then its implementation
  phase; the SCC's dependents are released when its interface is done;
- every SCC is stale unless listed as fresh (fresh ones cost nothing and
  release their dependents when classified).

`ideal` is the bound no schedule beats: serial start plus the larger of the
total work spread over N workers and the critical path, with no overheads.
"""

from __future__ import annotations

import heapq
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from mypy_split.graph import SccNode
from mypy_split.schedule import ParallelScheduler, PhaseCost

ZERO = PhaseCost(0.0, 0.0)


def total(cost: PhaseCost) -> float:
    return cost.interface + cost.implementation


@dataclass(frozen=True)
class Overheads:
    """Costs outside the SCCs' own work, in seconds."""

    serial_start: float = 0.0
    worker_start: float = 0.0
    per_task: float = 0.0


@dataclass(frozen=True)
class Simulation:
    """One simulated build."""

    workers: int
    makespan: float  # seconds from process start to the last SCC done
    busy: float  # worker seconds spent on tasks, overheads included
    tasks: int


class SimulationError(Exception):
    """The DAG cannot be completed (a dependency outside it, or a scheduler bug)."""


# Event kinds, in the order they are handled at equal times.
_READY, _INTERFACE, _IMPLEMENTATION = 0, 1, 2


def simulate(
    nodes: Sequence[SccNode],
    costs: Mapping[int, PhaseCost],
    workers: int,
    overheads: Overheads = Overheads(),
    fresh: Collection[int] = (),
) -> Simulation:
    """Replay a build of `nodes` (topological order) on `workers` simulated workers."""
    if workers < 1:
        raise ValueError("at least one worker")
    # The scheduler ranks by the same costs; fresh SCCs will cost nothing.
    priorities = {node.id: ZERO if node.id in fresh else costs.get(node.id, ZERO) for node in nodes}
    scheduler = ParallelScheduler(nodes, priorities)
    start = overheads.serial_start
    events: list[tuple[float, int, int, int, int]] = []  # (time, kind, seq, worker, scc)
    sequence = 0

    def push(time: float, kind: int, worker: int, scc_id: int) -> None:
        nonlocal sequence
        heapq.heappush(events, (time, kind, sequence, worker, scc_id))
        sequence += 1

    def classify() -> None:
        # Fresh SCCs release their dependents at once, so repeat until none is left.
        while ready := scheduler.take_classifiable():
            for scc_id in ready:
                scheduler.classified(scc_id, scc_id in fresh)

    for worker in range(workers):
        push(start + overheads.worker_start, _READY, worker, -1)
    classify()
    idle: list[int] = []
    now, busy, tasks = start, 0.0, 0
    while not scheduler.finished:
        if not events:
            raise SimulationError("SCCs are left that can never run (a dependency outside the DAG?)")
        now = events[0][0]
        while events and events[0][0] == now:
            _, kind, _, worker, scc_id = heapq.heappop(events)
            if kind == _READY:
                idle.append(worker)
            elif kind == _INTERFACE:
                scheduler.interface_done(scc_id)
                push(now + costs.get(scc_id, ZERO).implementation, _IMPLEMENTATION, worker, scc_id)
            else:
                scheduler.implementation_done(scc_id)
                idle.append(worker)
        classify()
        idle.sort()
        while idle and (task := scheduler.next_task()) is not None:
            worker = idle.pop(0)
            cost = costs.get(task, ZERO)
            push(now + overheads.per_task + cost.interface, _INTERFACE, worker, task)
            busy += overheads.per_task + total(cost)
            tasks += 1
    return Simulation(workers=workers, makespan=now, busy=busy, tasks=tasks)


def critical_path(nodes: Sequence[SccNode], costs: Mapping[int, PhaseCost]) -> float:
    """The longest chain of work with unlimited workers and no overheads.

    An SCC can start once each dependency's interface is done, and ends after
    its own two phases: the chain runs through interfaces and ends in one
    implementation.
    """
    earliest_start: dict[int, float] = {}
    longest = 0.0
    for node in nodes:
        start = max(
            (earliest_start[dep] + costs.get(dep, ZERO).interface for dep in node.deps), default=0.0
        )
        earliest_start[node.id] = start
        longest = max(longest, start + total(costs.get(node.id, ZERO)))
    return longest


def ideal(nodes: Sequence[SccNode], costs: Mapping[int, PhaseCost], workers: int, serial_start: float) -> float:
    """Serial start + max(total work / N, critical path): no schedule does better."""
    work = sum(total(costs.get(node.id, ZERO)) for node in nodes)
    return serial_start + max(work / workers, critical_path(nodes, costs))
