"""The scheduler: a pure state machine over SCCs, no I/O and no engine calls.

`SequentialLoop` is mypy's own sequential order, replayed exactly:

- the ready list starts with the SCCs that have no dependencies, in plan order;
- each round asks which ready SCCs are fresh; stale ones join a FIFO queue;
- a round that found fresh SCCs counts them as done and processes nothing;
  otherwise the front of the queue is processed whole (interface, then
  implementation) and is the one done SCC;
- dependents whose last dependency just finished form the next ready list,
  in the order the plan lists each done SCC's dependents.

The in-process driver executes its actions one by one.  Because the loop only
depends on freshness answers and completion events, the same object can also
serve as the print order of a build whose real work runs elsewhere.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from mypy_split.graph import SccNode


class _Action:
    """An action of the loop: equal to another of the same kind with the same fields.

    Plain classes, not dataclasses: every run defines them at start-up, and a
    dataclass takes about a millisecond to define.
    """

    __slots__: tuple[str, ...] = ()

    def _fields(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Action) and type(other) is type(self) and other._fields() == self._fields()

    def __hash__(self) -> int:
        return hash((type(self), self._fields()))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(map(repr, self._fields()))})"


class Classify(_Action):
    """Split these ready SCCs into fresh and stale (answer with `classified`)."""

    __slots__ = ("scc_ids",)

    def __init__(self, scc_ids: tuple[int, ...]) -> None:
        self.scc_ids = scc_ids


class RunInterface(_Action):
    """Check the interface of this stale SCC (answer with `interface_done`)."""

    __slots__ = ("scc_id",)

    def __init__(self, scc_id: int) -> None:
        self.scc_id = scc_id


class RunImplementation(_Action):
    """Check the remaining bodies of this SCC (answer with `implementation_done`)."""

    __slots__ = ("scc_id",)

    def __init__(self, scc_id: int) -> None:
        self.scc_id = scc_id


class Finished(_Action):
    """Every SCC is done."""

    __slots__ = ()


Action = Classify | RunInterface | RunImplementation | Finished


class ScheduleError(Exception):
    """An event that the loop's current state does not allow (a driver bug)."""


class SequentialLoop:
    """mypy's sequential processing order as a state machine; see the module doc."""

    def __init__(self, nodes: Sequence[SccNode]) -> None:
        self._dependents = {node.id: node.dependents for node in nodes}
        self._waiting_on = {node.id: len(node.deps) for node in nodes}
        self._stale_queue: deque[int] = deque()
        self._ready = [node.id for node in nodes if not node.deps]
        self._expected: Action | None = None
        self._done: set[int] = set()

    @property
    def done(self) -> frozenset[int]:
        return frozenset(self._done)

    def start(self) -> Action:
        if self._expected is not None:
            raise ScheduleError("the loop was already started")
        return self._next_round()

    def classified(self, fresh: Sequence[int], stale: Sequence[int]) -> Action:
        expected = self._expect(Classify)
        assert isinstance(expected, Classify)
        if sorted([*fresh, *stale]) != sorted(expected.scc_ids):
            raise ScheduleError(
                f"classification of {sorted([*fresh, *stale])} does not answer "
                f"{sorted(expected.scc_ids)}"
            )
        self._stale_queue.extend(stale)
        if fresh:
            return self._finish(fresh)
        return self._process_next_stale()

    def interface_done(self, scc_id: int) -> Action:
        self._expect(RunInterface(scc_id))
        return self._set_expected(RunImplementation(scc_id))

    def implementation_done(self, scc_id: int) -> Action:
        self._expect(RunImplementation(scc_id))
        return self._finish([scc_id])

    def _next_round(self) -> Action:
        if self._ready:
            ready, self._ready = tuple(self._ready), []
            return self._set_expected(Classify(ready))
        return self._process_next_stale()

    def _process_next_stale(self) -> Action:
        if self._stale_queue:
            return self._set_expected(RunInterface(self._stale_queue.popleft()))
        unfinished = [scc_id for scc_id, count in self._waiting_on.items() if count > 0]
        if unfinished:
            raise ScheduleError(f"SCCs {sorted(unfinished)} can never become ready")
        return self._set_expected(Finished())

    def _finish(self, done: Sequence[int]) -> Action:
        for scc_id in done:
            self._done.add(scc_id)
            for dependent in self._dependents[scc_id]:
                self._waiting_on[dependent] -= 1
                if self._waiting_on[dependent] == 0:
                    self._ready.append(dependent)
        return self._next_round()

    def _set_expected(self, action: Action) -> Action:
        self._expected = action
        return action

    def _expect(self, wanted: Action | type[Classify]) -> Action:
        expected = self._expected
        matches = (
            isinstance(expected, wanted) if isinstance(wanted, type) else expected == wanted
        )
        if expected is None or not matches:
            raise ScheduleError(f"got an answer for {wanted}, but the loop waits for {expected}")
        return expected


class ParallelScheduler:
    """Which SCC runs next when several executors work at once.

    Each SCC goes `blocked -> classifiable -> (fresh: done) | queued -> running
    -> interface done -> done`.  Dependents are unblocked by `interface done`
    (or by being found fresh); an implementation never blocks anyone.  Among
    queued SCCs the one with the longest remaining critical path goes first.
    """

    def __init__(self, nodes: Sequence[SccNode], costs: Mapping[int, PhaseCost] | None = None) -> None:
        self._order = {node.id: position for position, node in enumerate(nodes)}
        self._dependents = {node.id: node.dependents for node in nodes}
        self._blocking = {node.id: len(node.deps) for node in nodes}
        # Costs are looked at only once an SCC is queued: a run that finds
        # everything fresh never computes them.
        self._nodes = nodes
        self._costs = costs
        # Each computed when an SCC is first queued: a run with one stale leaf
        # looks at one SCC, not the whole graph.
        self._priority = CriticalPaths(nodes, costs)
        self._totals: dict[int, float] | None = None
        self._classifiable = [node.id for node in nodes if not node.deps]
        self._queue: list[tuple[float, int, int]] = []
        self._running: set[int] = set()
        self._interface_done: set[int] = set()
        self._done: set[int] = set()
        self._total = len(nodes)
        # SCCs started, taken elsewhere or found fresh; the sum of their costs
        # is kept once first asked for (a run that never asks never sums).
        self._started: set[int] = set()
        self._started_cost: float | None = None
        self._all_cost = 0.0

    def take_classifiable(self) -> list[int]:
        """SCCs whose dependencies' interfaces are all known, in plan order."""
        ready = sorted(self._classifiable, key=self._order.__getitem__)
        self._classifiable = []
        return ready

    def classified(self, scc_id: int, fresh: bool) -> None:
        if fresh:
            self._count_started(scc_id)
            self._done.add(scc_id)
            self._release_dependents(scc_id)
        else:
            self._enqueue(scc_id)

    def next_task(self) -> int | None:
        """The queued SCC to start now, or None."""
        if not self._queue:
            return None
        _, _, scc_id = heapq.heappop(self._queue)
        self._count_started(scc_id)
        self._running.add(scc_id)
        return scc_id

    def next_small_task(self, limit: float) -> int | None:
        """The SCC `next_task` would start, if it is expected to take at most `limit` seconds; else None.

        For a worker about to finish its task: a small one queued behind it
        starts without a round trip to the coordinator, while a big one is
        left for whichever worker is free first.
        """
        if not self._queue or self._total_costs[self._queue[0][2]] > limit:
            return None
        return self.next_task()

    def has_queued(self) -> bool:
        return bool(self._queue)

    def queued_count(self) -> int:
        return len(self._queue)

    def longest_unstarted_path(self, besides: int) -> float:
        """The longest critical path among SCCs not started yet (queued or blocked), one aside.

        A lower bound on how long the rest of the build runs, whatever
        happens to the SCC set aside.
        """
        return max(
            (
                path
                for scc_id, path in self._priority.everything().items()
                if scc_id != besides and scc_id not in self._running and scc_id not in self._done
            ),
            default=0.0,
        )

    def rest_of_build(self, besides: int, running: Mapping[int, float], workers: int) -> float:
        """How long `workers` workers stay busy with the build but one SCC, at the least.

        The longest chain left, and all the work left spread over them;
        `running` maps each SCC in progress to the seconds it has run (what
        is left of its chain and work counts).  With no worker, forever.
        """
        if workers <= 0:
            return math.inf
        chain = self.longest_unstarted_path(besides)
        work = sum(
            cost
            for scc_id, cost in self._total_costs.items()
            if scc_id != besides and scc_id not in self._running and scc_id not in self._done
        )
        for scc_id, elapsed in running.items():
            if scc_id != besides and scc_id not in self._done:
                chain = max(chain, self._priority[scc_id] - elapsed)
                work += max(0.0, self._total_costs[scc_id] - elapsed)
        return max(chain, work / workers)

    def unstarted_work(self) -> float:
        """Expected seconds of the SCCs not started yet: queued, blocked, or not yet known to be fresh."""
        totals = self._total_costs
        if self._started_cost is None:
            self._all_cost = sum(totals.values())
            self._started_cost = sum(totals[scc_id] for scc_id in self._started)
        return max(0.0, self._all_cost - self._started_cost)

    def _count_started(self, scc_id: int) -> None:
        """The SCC leaves the unstarted work: started, taken elsewhere, or found fresh."""
        if scc_id in self._started:
            return
        self._started.add(scc_id)
        if self._started_cost is not None:
            self._started_cost += self._total_costs[scc_id]

    @property
    def _total_costs(self) -> dict[int, float]:
        if self._totals is None:
            self._totals = {node.id: total_cost(node, self._costs) for node in self._nodes}
        return self._totals

    def top_priority(self) -> float | None:
        """The critical path of the SCC that would start next, or None if none waits."""
        return -self._queue[0][0] if self._queue else None

    def queued_in_order(self) -> list[int]:
        """The queued SCCs, the one `next_task` would start first at the front."""
        return [scc_id for _, _, scc_id in sorted(self._queue)]

    def take(self, scc_id: int) -> None:
        """Start this queued SCC now, whatever its place in the queue."""
        self._queue = [entry for entry in self._queue if entry[2] != scc_id]
        heapq.heapify(self._queue)
        self._count_started(scc_id)
        self._running.add(scc_id)

    def interface_done(self, scc_id: int) -> None:
        if scc_id in self._interface_done:
            return  # A retried task reports its interface again.
        self._interface_done.add(scc_id)
        self._release_dependents(scc_id)

    def implementation_done(self, scc_id: int) -> None:
        self._running.discard(scc_id)
        self._done.add(scc_id)

    def task_lost(self, scc_id: int) -> None:
        """A task's executor disappeared: run the SCC again from the start."""
        if scc_id in self._running and scc_id not in self._done:
            self._running.discard(scc_id)
            self._started.discard(scc_id)
            if self._started_cost is not None:
                self._started_cost -= self._total_costs[scc_id]
            self._enqueue(scc_id)

    def withdraw(self, scc_id: int) -> None:
        """Take a queued or running SCC out of the pool's hands (it runs elsewhere)."""
        self._count_started(scc_id)
        self._running.discard(scc_id)
        self._queue = [entry for entry in self._queue if entry[2] != scc_id]
        heapq.heapify(self._queue)

    @property
    def finished(self) -> bool:
        return len(self._done) == self._total

    def _enqueue(self, scc_id: int) -> None:
        heapq.heappush(self._queue, (-self._priority[scc_id], self._order[scc_id], scc_id))

    def _release_dependents(self, scc_id: int) -> None:
        for dependent in self._dependents[scc_id]:
            self._blocking[dependent] -= 1
            if self._blocking[dependent] == 0:
                self._classifiable.append(dependent)


class PhaseCost(NamedTuple):
    """Expected seconds of an SCC's two phases (or any consistent unit)."""

    interface: float
    implementation: float


# Without a measurement, an SCC's size stands for its cost, split the way
# checking time usually splits between top levels and function bodies.
INTERFACE_SHARE = 0.4


def size_cost(node: SccNode) -> PhaseCost:
    size = float(node.size_hint)
    return PhaseCost(size * INTERFACE_SHARE, size * (1 - INTERFACE_SHARE))


def total_cost(node: SccNode, costs: Mapping[int, PhaseCost] | None) -> float:
    cost = costs.get(node.id) if costs else None
    if cost is None:
        cost = size_cost(node)
    return cost.interface + cost.implementation


def critical_paths(
    nodes: Sequence[SccNode], costs: Mapping[int, PhaseCost] | None = None
) -> dict[int, float]:
    """For each SCC, the longest chain of work that cannot start before it does.

    Dependents wait only for an SCC's interface, so a chain runs through
    interfaces and ends with one implementation: the SCC's own, or one
    further down.  `nodes` are in topological order (dependencies first), so
    one backward pass sees every dependent before the SCCs it depends on.
    """
    return CriticalPaths(nodes, costs).everything()


def path_from(node: SccNode, costs: Mapping[int, PhaseCost] | None, longest: Mapping[int, float]) -> float:
    """The critical path of one SCC, given those of its dependents in `longest`."""
    cost = costs.get(node.id) if costs else None
    if cost is None:
        cost = size_cost(node)
    after = max((longest[d] for d in node.dependents), default=0.0)
    return cost.interface + max(cost.implementation, after)


class CriticalPaths:
    """`critical_paths`, computed for an SCC when first asked (with its dependents, recursively)."""

    def __init__(self, nodes: Sequence[SccNode], costs: Mapping[int, PhaseCost] | None = None) -> None:
        self._nodes = nodes
        self._by_id = {node.id: node for node in nodes}
        self._costs = costs
        self._known: dict[int, float] = {}

    def __getitem__(self, scc_id: int) -> float:
        known = self._known
        if scc_id in known:
            return known[scc_id]
        pending = [scc_id]
        while pending:
            node = self._by_id[pending[-1]]
            if node.id in known:
                pending.pop()
                continue
            waiting = [d for d in node.dependents if d not in known]
            if waiting:
                pending.extend(waiting)
                continue
            pending.pop()
            known[node.id] = path_from(node, self._costs, known)
        return known[scc_id]

    def everything(self) -> dict[int, float]:
        """Every SCC's path; `nodes` are in topological order, so dependents come first backwards."""
        known = self._known
        if len(known) < len(self._nodes):
            for node in reversed(self._nodes):
                if node.id not in known:
                    known[node.id] = path_from(node, self._costs, known)
        return known

