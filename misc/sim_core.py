"""The scheduling simulator's core: SCC costs, a DAG and N workers to a wall time.

Pure and deterministic: it drives our real `ParallelScheduler` through the
same calls the coordinator makes (classify, next task, interface done,
implementation done) on a clock instead of on workers, so a change to the
scheduler shows here at once.  The model of one build:

- nothing can run for `serial_start` seconds (process start, graph loading);
- each worker becomes available `worker_start` seconds after that;
- a task is one SCC on one worker: a `round_trip` (the worker reports, the
  coordinator answers with the next task), `per_task` seconds of overhead
  (loading its dependencies), its interface phase, then its implementation
  phase; the SCC's dependents are released when its interface is done;
- with `prefetch`, a task that was already queued when its worker's
  previous task ended, and costs at most `prefetch_max`, was sent ahead
  and pays no round trip;
- every SCC is stale unless listed as fresh (fresh ones cost nothing and
  release their dependents when classified).

With `Sharing`, a big SCC's bodies are shared as the coordinator shares
them (`mypy_split/sharing.py`, whose `SharedScc` makes every decision
here too): the owner checks the interface, idle workers join under
`SharedScc.may_join` when nothing is queued, each helper first repeats the
interface, then every participant takes bodies a chunk at a time (a round
trip each) until none are left or, for a helper, a queued SCC outranks
what is left.  The SCC is done when its last participant is.

`ideal` is the bound no schedule beats: serial start plus the larger of the
total work spread over N workers and the critical path, with no overheads.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from mypy_split.graph import SccNode
from mypy_split.schedule import ParallelScheduler, PhaseCost
from mypy_split.sharing import CHUNK_SECONDS, SHARE_MIN_SECONDS, SharedScc, worth_sharing

ZERO = PhaseCost(0.0, 0.0)


def total(cost: PhaseCost) -> float:
    return cost.interface + cost.implementation


@dataclass(frozen=True)
class Overheads:
    """Costs outside the SCCs' own work, in seconds."""

    serial_start: float = 0.0
    worker_start: float = 0.0
    per_task: float = 0.0
    # Idle time of a worker between two tasks (or two chunks of bodies).
    round_trip: float = 0.0
    prefetch: bool = False
    # Only tasks this small are sent ahead (a big one is better kept for a
    # worker that is free when it starts).
    prefetch_max: float = math.inf


@dataclass(frozen=True)
class Sharing:
    """Which SCCs' bodies may be shared, and the coordinator's threshold.

    `bodies` maps an SCC to its modules' implementation seconds, in check
    order, adding up to the SCC's implementation cost (a shared SCC's bodies
    are what its participants check); SCCs not listed (or too small, by
    `worth_sharing`) run whole.  The estimates the coordinator decides by
    are taken to be the times measured: the simulator has only one cost.
    """

    bodies: Mapping[int, Mapping[str, float]]
    share_min: float = SHARE_MIN_SECONDS
    chunk_seconds: float = CHUNK_SECONDS

    def __post_init__(self) -> None:
        # The coordinator's forced mode (share_min 0, tests only) keeps bodies
        # back for helpers in ways that depend on message timing: not modelled.
        if self.share_min <= 0 or self.chunk_seconds <= 0:
            raise ValueError("the simulator models sharing with a positive minimum share and chunk")

    def shareable(self, scc_id: int) -> dict[str, float] | None:
        bodies = self.bodies.get(scc_id)
        if bodies is None or not worth_sharing(bodies, self.share_min):
            return None
        return dict(bodies)


@dataclass(frozen=True)
class Simulation:
    """One simulated build."""

    workers: int
    makespan: float  # seconds from process start to the last SCC done
    busy: float  # worker seconds spent on tasks, overheads included
    tasks: int
    # Tasks that helped with a shared SCC, and the interface seconds they repeated.
    helpers: int = 0
    repeated: float = 0.0


class SimulationError(Exception):
    """The DAG cannot be completed (a dependency outside it, or a scheduler bug)."""


# Event kinds, in the order they are handled at equal times.
_READY, _INTERFACE, _ASK, _IMPLEMENTATION = 0, 1, 2, 3
NEVER = -math.inf


def simulate(
    nodes: Sequence[SccNode],
    costs: Mapping[int, PhaseCost],
    workers: int,
    overheads: Overheads = Overheads(),
    fresh: Collection[int] = (),
    sharing: Sharing | None = None,
) -> Simulation:
    """Replay a build of `nodes` (topological order) on `workers` simulated workers."""
    if workers < 1:
        raise ValueError("at least one worker")
    return _Build(nodes, costs, workers, overheads, fresh, sharing).run()


class _Build:
    """The state of one simulated build: the clock, the events, the workers."""

    def __init__(
        self,
        nodes: Sequence[SccNode],
        costs: Mapping[int, PhaseCost],
        workers: int,
        overheads: Overheads,
        fresh: Collection[int],
        sharing: Sharing | None,
    ) -> None:
        self.costs = costs
        self.workers = workers
        self.overheads = overheads
        self.fresh = fresh
        self.sharing = sharing
        # The scheduler ranks by the same costs; fresh SCCs will cost nothing.
        priorities = {node.id: ZERO if node.id in fresh else costs.get(node.id, ZERO) for node in nodes}
        self.scheduler = ParallelScheduler(nodes, priorities)
        self.events: list[tuple[float, int, int, int, int]] = []  # (time, kind, seq, worker, scc)
        self.sequence = 0
        self.now = overheads.serial_start
        self.idle: list[int] = []
        self.shared: dict[int, SharedScc] = {}
        self.committed: set[int] = set()
        # What the prefetch and helper rules look at, as the coordinator does.
        self.queued_at: dict[int, float] = {}
        self.freed_at: dict[int, float] = {}
        self.sent_at: dict[int, float] = {}
        self.interface_at: dict[int, float] = {}
        self.busy = self.repeated = 0.0
        self.tasks = self.helpers = 0

    def run(self) -> Simulation:
        ready = self.overheads.serial_start + self.overheads.worker_start
        for worker in range(self.workers):
            self.push(ready, _READY, worker, -1)
        self.classify()
        while not self.scheduler.finished:
            if not self.events:
                raise SimulationError("SCCs are left that can never run (a dependency outside the DAG?)")
            self.now = self.events[0][0]
            while self.events and self.events[0][0] == self.now:
                _, kind, _, worker, scc_id = heapq.heappop(self.events)
                self.handle(kind, worker, scc_id)
            self.classify()
            self.dispatch()
        return Simulation(
            self.workers, self.now, self.busy, self.tasks, helpers=self.helpers, repeated=self.repeated
        )

    def push(self, time: float, kind: int, worker: int, scc_id: int) -> None:
        heapq.heappush(self.events, (time, kind, self.sequence, worker, scc_id))
        self.sequence += 1

    def classify(self) -> None:
        # Fresh SCCs release their dependents at once, so repeat until none is left.
        while ready := self.scheduler.take_classifiable():
            for scc_id in ready:
                self.scheduler.classified(scc_id, scc_id in self.fresh)
                self.queued_at.setdefault(scc_id, self.now)

    def handle(self, kind: int, worker: int, scc_id: int) -> None:
        if kind == _READY:
            self.idle.append(worker)
        elif kind == _INTERFACE:
            self.interface_done(worker, scc_id)
        elif kind == _ASK:
            self.ask(worker, scc_id)
        else:
            self.scheduler.implementation_done(scc_id)
            self.task_over(worker)

    def task_over(self, worker: int) -> None:
        self.idle.append(worker)
        self.freed_at[worker] = self.now

    # -- dispatch, as Coordinator.dispatch --------------------------------------

    def dispatch(self) -> None:
        self.idle.sort()
        while self.idle and (scc_id := self.scheduler.next_task()) is not None:
            self.start_task(self.idle.pop(0), scc_id)
        if self.shared and not self.scheduler.has_queued():
            # Nothing waits: idle workers may join a shared SCC's bodies.
            for worker in list(self.idle):
                self.join_as_helper(worker)

    def round_trip(self, worker: int, scc_id: int) -> float:
        """The wait before a task's work starts: none if it could be sent ahead."""
        freed = self.freed_at.get(worker)
        if (
            self.overheads.prefetch
            and freed is not None
            and self.queued_at[scc_id] < freed
            and total(self.costs.get(scc_id, ZERO)) <= self.overheads.prefetch_max
        ):
            return 0.0
        return self.overheads.round_trip

    def start_task(self, worker: int, scc_id: int) -> None:
        cost = self.costs.get(scc_id, ZERO)
        wait = self.round_trip(worker, scc_id)
        self.sent_at[worker] = self.now
        bodies = self.sharing.shareable(scc_id) if self.sharing is not None else None
        if bodies is not None:
            # Its bodies are counted as busy time when handed out.
            self.shared[scc_id] = SharedScc.start(scc_id, worker, bodies, cost.interface, self.now)
            work = self.overheads.per_task + cost.interface
        else:
            work = self.overheads.per_task + total(cost)
        self.push(self.now + wait + self.overheads.per_task + cost.interface, _INTERFACE, worker, scc_id)
        self.busy += work
        self.tasks += 1

    def interface_done(self, worker: int, scc_id: int) -> None:
        self.scheduler.interface_done(scc_id)
        self.interface_at.setdefault(scc_id, self.now)
        if scc_id in self.shared:
            self.committed.add(scc_id)
            self.ask(worker, scc_id)  # The owner asks for its first bodies at once.
        else:
            self.push(self.now + self.costs.get(scc_id, ZERO).implementation, _IMPLEMENTATION, worker, scc_id)

    # -- sharing, as Coordinator.join_as_helper and hand_bodies -----------------

    def join_as_helper(self, worker: int) -> None:
        assert self.sharing is not None
        for scc_id, shared in self.shared.items():
            if self.sent_at.get(worker, NEVER) >= self.interface_at.get(scc_id, self.now):
                continue  # It may hold the SCC loaded from the cache, without bodies.
            others = self.scheduler.longest_unstarted_path(scc_id)
            if not shared.may_join(worker, self.now - shared.started, self.sharing.share_min, others):
                continue
            shared.join(worker)
            self.idle.remove(worker)
            self.sent_at[worker] = self.now
            # The helper repeats the interface before it asks for bodies.
            work = self.overheads.per_task + shared.interface_cost
            self.push(self.now + self.overheads.round_trip + work, _ASK, worker, scc_id)
            self.busy += work
            self.repeated += shared.interface_cost
            self.helpers += 1
            return

    def ask(self, worker: int, scc_id: int) -> None:
        """A participant asks for bodies: a chunk to check, or the end of its task."""
        assert self.sharing is not None
        shared = self.shared[scc_id]
        chunk = shared.take(worker, self.scheduler.top_priority(), self.sharing.chunk_seconds)
        if chunk:
            work = sum(shared.costs[module_id] for module_id in chunk)
            self.busy += work
            self.push(self.now + self.overheads.round_trip + work, _ASK, worker, scc_id)
            return
        shared.leave(worker)
        self.task_over(worker)
        if shared.stalled():
            raise SimulationError(f"shared SCC {scc_id} has bodies left but no participant")
        if shared.done(scc_id in self.committed):
            del self.shared[scc_id]
            self.scheduler.implementation_done(scc_id)


# ---------------------------------------------------------------- bounds


def shared_costs(
    nodes: Sequence[SccNode], costs: Mapping[int, PhaseCost], sharing: Sharing | None
) -> dict[int, PhaseCost]:
    """Costs as a chain sees them when bodies may be shared.

    With unlimited helpers a shareable SCC's implementation still takes its
    largest body (after the interface, which every participant checks
    first), so that is what stands for the implementation on a path.
    """
    result = {node.id: costs.get(node.id, ZERO) for node in nodes}
    if sharing is None:
        return result
    for node in nodes:
        bodies = sharing.shareable(node.id)
        if bodies:
            result[node.id] = PhaseCost(result[node.id].interface, max(bodies.values()))
    return result


def critical_path(
    nodes: Sequence[SccNode], costs: Mapping[int, PhaseCost], sharing: Sharing | None = None
) -> float:
    """The longest chain of work with unlimited workers and no overheads.

    An SCC can start once each dependency's interface is done, and ends after
    its own two phases: the chain runs through interfaces and ends in one
    implementation (with sharing, in the SCC's largest body).
    """
    chain_costs = shared_costs(nodes, costs, sharing)
    earliest_start: dict[int, float] = {}
    longest = 0.0
    for node in nodes:
        start = max((earliest_start[dep] + chain_costs[dep].interface for dep in node.deps), default=0.0)
        earliest_start[node.id] = start
        longest = max(longest, start + total(chain_costs[node.id]))
    return longest


def ideal(
    nodes: Sequence[SccNode],
    costs: Mapping[int, PhaseCost],
    workers: int,
    serial_start: float,
    sharing: Sharing | None = None,
) -> float:
    """Serial start + max(total work / N, critical path): no schedule does better."""
    work = sum(total(costs.get(node.id, ZERO)) for node in nodes)
    return serial_start + max(work / workers, critical_path(nodes, costs, sharing))
