"""The scheduling simulator's core: SCC costs, a DAG and N workers to a wall time.

Pure and deterministic: it drives our real `ParallelScheduler` through the
same calls the coordinator makes (classify, next task, interface done,
implementation done) on a clock instead of on workers, so a change to the
scheduler shows here at once.  The model of one build:

- nothing can run for `serial_start` seconds (process start, graph loading);
- each worker becomes available `worker_start` seconds after that;
- with `head_start`, the coordinator's head start on an empty cache
  (`mypy_split/head_start.py`): the first worker starts the SCC holding
  `builtins` at that time, whatever the serial start, and takes other work
  only once the serial start is over;
- a task is one SCC on one worker: a `round_trip` (the worker reports, the
  coordinator answers with the next task), `per_task` seconds of overhead
  (loading its dependencies), its interface phase, then its implementation
  phase; the SCC's dependents are released when its interface is done;
- with `send_ahead`, the coordinator's send-ahead: a busy worker whose task
  is expected to end within that many seconds gets the next queued task
  behind it if that one is as small, and starts it with no round trip
  (judged when something happens, as the coordinator judges it on a message);
- with `batch`, the coordinator's batches (`mypy_split/batches.py`): an idle
  worker, or one whose queued work is about to end, gets as many small queued
  SCCs as fit in that many seconds together (at most its fair share of the
  queue); each but the last holds its results until the last one's interface
  is done, so their dependents wait for the whole batch;
- every SCC is stale unless listed as fresh (fresh ones cost nothing and
  release their dependents when classified);
- with `decide_by`, the coordinator decides (priorities, send-ahead, what
  to share and who joins) by those estimates while the work takes the
  costs' time, as a run without a cost file decides by size estimates;
  without it, the coordinator knows the costs.

With `Sharing`, a big SCC's bodies are shared as the coordinator shares
them (`mypy_split/sharing.py`, whose `SharingDesk` and `SharedScc` make
every decision here too): the owner checks the interface, idle workers
join under `SharedScc.may_join` when nothing is queued, each helper first repeats the
interface, then every participant takes bodies a chunk at a time (a round
trip each) until none are left or, for a helper, a queued SCC outranks
what is left.  The SCC is done when its last participant is.

`ideal` is the bound no schedule beats: serial start plus the larger of the
total work spread over N workers and the critical path, with no overheads
(with sharing, a chain may end in an SCC's largest body instead of all of them).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from mypy_split.graph import SccNode
from mypy_split.schedule import ParallelScheduler, PhaseCost
from mypy_split.sharing import SHARE_MIN_SECONDS, SharingDesk, worth_sharing

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
    # The coordinator's send-ahead limit (tuning.SEND_AHEAD_SECONDS); 0: off.
    send_ahead: float = 0.0
    # The coordinator's batch limit (tuning.BATCH_SECONDS); 0: off.
    batch: float = 0.0
    # When the first worker starts the builtins cycle ahead of the graph; None: no head start.
    head_start: float | None = None


@dataclass(frozen=True)
class Sharing:
    """Which SCCs' bodies may be shared, and the coordinator's threshold.

    `bodies` maps an SCC to its modules' implementation seconds, in check
    order, adding up to the SCC's implementation cost (a shared SCC's bodies
    are what its participants check); SCCs not listed (or too small, by
    `worth_sharing`) run whole.  `estimates`, in the same shape, are the
    bodies as the coordinator estimates them, which it decides by (what to
    share, who joins, how big a chunk is); without them it knows the times.
    """

    bodies: Mapping[int, Mapping[str, float]]
    share_min: float = SHARE_MIN_SECONDS
    estimates: Mapping[int, Mapping[str, float]] | None = None

    def __post_init__(self) -> None:
        # The coordinator's forced mode (share_min 0, tests only) keeps bodies
        # back for helpers in ways that depend on message timing: not modelled.
        if self.share_min <= 0:
            raise ValueError("the simulator models sharing with a positive minimum share")

    def shareable(self, scc_id: int) -> dict[str, float] | None:
        bodies = self.bodies.get(scc_id)
        if bodies is None or not worth_sharing(bodies, self.share_min):
            return None
        return dict(bodies)

    def as_estimated(self, scc_id: int) -> dict[str, float] | None:
        """The SCC's bodies as the coordinator estimates them (None: it has no separate bodies)."""
        known = self.estimates if self.estimates is not None else self.bodies
        bodies = known.get(scc_id)
        return None if bodies is None or scc_id not in self.bodies else dict(bodies)


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
    # Tasks sent ahead (no round trip).
    sent_ahead: int = 0
    # Tasks whose results waited for the end of their batch.
    held: int = 0


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
    decide_by: Mapping[int, PhaseCost] | None = None,
) -> Simulation:
    """Replay a build of `nodes` (topological order) on `workers` simulated workers."""
    if workers < 1:
        raise ValueError("at least one worker")
    return _Build(nodes, costs, workers, overheads, fresh, sharing, decide_by).run()


class _Build:
    """The state of one simulated build: the clock, the events, the workers.

    Its methods mirror the coordinator's (`Coordinator.dispatch`,
    `send_ahead`, `join_as_helper`, `hand_bodies`) and make the same calls
    on the same objects: the scheduler and the sharing desk.
    """

    def __init__(
        self,
        nodes: Sequence[SccNode],
        costs: Mapping[int, PhaseCost],
        workers: int,
        overheads: Overheads,
        fresh: Collection[int],
        sharing: Sharing | None,
        decide_by: Mapping[int, PhaseCost] | None = None,
    ) -> None:
        self.nodes = nodes
        self.costs = costs
        # What the coordinator believes each SCC costs.
        self.estimates = decide_by if decide_by is not None else costs
        self.workers = workers
        self.overheads = overheads
        self.fresh = fresh
        self.sharing = sharing
        # The scheduler ranks by the estimates; fresh SCCs will cost nothing.
        priorities = {node.id: ZERO if node.id in fresh else self.estimates.get(node.id, ZERO) for node in nodes}
        self.scheduler = ParallelScheduler(nodes, priorities)
        self.desk = SharingDesk(sharing.share_min if sharing is not None else SHARE_MIN_SECONDS)
        self.events: list[tuple[float, int, int, int, int]] = []  # (time, kind, seq, worker, scc)
        self.sequence = 0
        self.now = overheads.serial_start
        self.idle: list[int] = []
        # Each busy worker's task, and those sent ahead behind it, in order.
        self.task: dict[int, int] = {}
        self.queued: dict[int, list[int]] = {}
        # Tasks of a batch that hold their results, and per worker those done and held.
        self.holding: set[int] = set()
        self.held: dict[int, list[int]] = {}
        # What the send-ahead and helper rules look at, as the coordinator does.
        self.began: dict[int, float] = {}
        self.sent_at: dict[int, float] = {}
        self.interface_at: dict[int, float] = {}
        self.busy = self.repeated = 0.0
        self.tasks = self.helpers = self.sent_ahead = self.held_count = 0

    def run(self) -> Simulation:
        ready = self.overheads.serial_start + self.overheads.worker_start
        self.classify()
        ahead = self.start_ahead()
        for worker in range(1 if ahead else 0, self.workers):
            self.push(ready, _READY, worker, -1)
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
            self.workers, self.now, self.busy, self.tasks,
            helpers=self.helpers, repeated=self.repeated, sent_ahead=self.sent_ahead, held=self.held_count,
        )

    def push(self, time: float, kind: int, worker: int, scc_id: int) -> None:
        heapq.heappush(self.events, (time, kind, self.sequence, worker, scc_id))
        self.sequence += 1

    def classify(self) -> None:
        # Fresh SCCs release their dependents at once, so repeat until none is left.
        while ready := self.scheduler.take_classifiable():
            for scc_id in ready:
                self.scheduler.classified(scc_id, scc_id in self.fresh)

    def handle(self, kind: int, worker: int, scc_id: int) -> None:
        if kind == _READY:
            self.idle.append(worker)
        elif kind == _INTERFACE:
            self.interface_done(worker, scc_id)
        elif kind == _ASK:
            self.ask(worker, scc_id)
        else:
            if scc_id in self.holding:
                self.held.setdefault(worker, []).append(scc_id)
            else:
                self.scheduler.implementation_done(scc_id)
            self.task_over(worker)

    def release_held(self, worker: int) -> None:
        """The results a batch held back reach the coordinator, with its last task's first one."""
        for scc_id in self.held.pop(worker, []):
            self.holding.discard(scc_id)
            self.scheduler.interface_done(scc_id)
            self.interface_at.setdefault(scc_id, self.now)
            self.scheduler.implementation_done(scc_id)

    def task_over(self, worker: int) -> None:
        """The worker's task ended: the first one sent ahead starts at once, else it is idle."""
        del self.task[worker]
        queued = self.queued.get(worker)
        if queued:
            self.start_task(worker, queued.pop(0), wait=0.0)
        elif self.now < self.overheads.serial_start:
            # A head start that ended before the graph was loaded: no other work exists yet.
            self.push(self.overheads.serial_start, _READY, worker, -1)
        else:
            self.idle.append(worker)

    def start_ahead(self) -> bool:
        """The head start, if any: worker 0 starts the builtins cycle at its own time."""
        at = self.overheads.head_start
        head = next((node.id for node in self.nodes if "builtins" in node.modules), None)
        if at is None or head is None or head not in self.scheduler.queued_in_order():
            return False
        self.scheduler.take(head)
        clock, self.now = self.now, at
        self.start_task(0, head, wait=0.0)
        self.now = clock
        return True

    # -- dispatch, as Coordinator.dispatch and send_ahead -----------------------

    def dispatch(self) -> None:
        self.idle.sort()
        while self.idle and self.scheduler.has_queued():
            if self.desk.shared and self.join_as_helper(self.idle[0], ahead=True):
                continue  # The bodies are the build's tail (shared_tasks.help_ahead_of_queue).
            scc_id = self.scheduler.next_task()
            assert scc_id is not None
            self.sent_at[worker := self.idle.pop(0)] = self.now
            batch = [scc_id, *self.more_for_batch(scc_id)]
            self.hold_for(batch)
            self.queued[worker] = batch[1:]
            self.sent_ahead += len(batch) - 1
            self.start_task(worker, scc_id, wait=self.overheads.round_trip)
        if self.desk.shared and not self.scheduler.has_queued():
            # Nothing waits: idle workers may join a shared SCC's bodies.
            for worker in list(self.idle):
                self.join_as_helper(worker)
        if self.overheads.send_ahead > 0:
            self.send_ahead()

    def send_ahead(self) -> None:
        """Small tasks (a batch, if several fit) queued behind each busy worker's tasks expected to end soon."""
        for worker in range(self.workers):
            if worker not in self.task or not self.ending_soon(worker):
                continue
            if self.overheads.batch > 0:
                batch = self.take_small(self.overheads.batch, max(1, self.fair_share()))
            else:
                batch = self.take_small(self.overheads.send_ahead, 1)
            if not batch:
                return
            self.hold_for(batch)
            self.queued.setdefault(worker, []).extend(batch)
            self.sent_at[worker] = self.now
            self.sent_ahead += len(batch)

    def ending_soon(self, worker: int) -> bool:
        """As Coordinator.ending_soon: the current task and those queued behind it."""
        scc_id = self.task[worker]
        if scc_id in self.desk.shared or worker in self.desk.helping:
            return False
        elapsed = self.now - self.began[worker]
        left = sum(total(self.estimates.get(task, ZERO)) for task in [scc_id, *self.queued.get(worker, [])])
        return left - elapsed <= self.overheads.send_ahead

    def fair_share(self) -> int:
        return self.scheduler.queued_count() // self.workers

    def take_small(self, budget: float, limit: int) -> list[int]:
        """As batches.take_small_tasks: queued SCCs in order, together expected within `budget`."""
        taken: list[int] = []
        while len(taken) < limit:
            scc_id = self.scheduler.next_small_task(budget)
            if scc_id is None:
                break
            if self.sharing is not None and self.sharing.shareable(scc_id):
                self.scheduler.task_lost(scc_id)
                break
            taken.append(scc_id)
            budget -= total(self.estimates.get(scc_id, ZERO))
        return taken

    def more_for_batch(self, first: int) -> list[int]:
        """As Coordinator.send_task: small SCCs to send with `first`, if it is small and batches are on."""
        cost = total(self.estimates.get(first, ZERO))
        if self.overheads.batch <= 0 or cost > self.overheads.batch:
            return []
        if self.sharing is not None and self.sharing.shareable(first):
            return []
        return self.take_small(self.overheads.batch - cost, self.fair_share())

    def hold_for(self, batch: list[int]) -> None:
        """All but the last of a batch hold their results (a lone task holds nothing)."""
        if self.overheads.batch > 0:
            self.holding.update(batch[:-1])
            self.held_count += len(batch) - 1

    def start_task(self, worker: int, scc_id: int, wait: float) -> None:
        cost = self.costs.get(scc_id, ZERO)
        self.task[worker] = scc_id
        self.began[worker] = self.now
        bodies = self.sharing.as_estimated(scc_id) if self.sharing is not None else None
        estimated = self.estimates.get(scc_id, ZERO).interface
        if bodies is not None and self.desk.offer(scc_id, worker, bodies, estimated, self.now):
            # Its bodies are counted as busy time when handed out.
            work = self.overheads.per_task + cost.interface
        else:
            work = self.overheads.per_task + total(cost)
        self.push(self.now + wait + self.overheads.per_task + cost.interface, _INTERFACE, worker, scc_id)
        self.busy += work
        self.tasks += 1

    def interface_done(self, worker: int, scc_id: int) -> None:
        if scc_id in self.holding:
            # Held back with the rest of its batch; the bodies go on.
            self.push(self.now + self.costs.get(scc_id, ZERO).implementation, _IMPLEMENTATION, worker, scc_id)
            return
        self.release_held(worker)
        self.scheduler.interface_done(scc_id)
        self.interface_at.setdefault(scc_id, self.now)
        if scc_id in self.desk.shared:
            self.ask(worker, scc_id)  # The owner asks for its first bodies at once.
        else:
            self.push(self.now + self.costs.get(scc_id, ZERO).implementation, _IMPLEMENTATION, worker, scc_id)

    # -- sharing, as Coordinator.join_as_helper, hand_bodies and maybe_finish_shared

    def join_as_helper(self, worker: int, ahead: bool = False) -> bool:
        sent_at = self.sent_at.get(worker, NEVER)

        def may_help(scc_id: int) -> bool:
            # Not if it may hold the SCC loaded from the cache, without bodies.
            return sent_at < self.interface_at.get(scc_id, self.now)

        others_path = self.rest_of_build if ahead else self.scheduler.longest_unstarted_path
        scc_id = self.desk.helper_task(worker, self.now, may_help, others_path, ahead)
        if scc_id is None:
            return False
        self.idle.remove(worker)
        self.task[worker] = scc_id
        self.sent_at[worker] = self.began[worker] = self.now
        # The helper repeats the interface before it asks for bodies.
        interface = self.costs.get(scc_id, ZERO).interface
        work = self.overheads.per_task + interface
        self.push(self.now + self.overheads.round_trip + work, _ASK, worker, scc_id)
        self.busy += work
        self.repeated += interface
        self.helpers += 1
        return True

    def rest_of_build(self, scc_id: int) -> float:
        """As shared_tasks.rest_of_build: how long the other workers, one more taken, stay busy."""
        shared = self.desk.shared[scc_id]
        running = {task: self.now - self.began[worker] for worker, task in self.task.items() if task != scc_id}
        running.update({task: 0.0 for queued in self.queued.values() for task in queued})
        others = self.workers - (1 + len(shared.helpers - shared.finished)) - 1
        return self.scheduler.rest_of_build(scc_id, running, others)

    def ask(self, worker: int, scc_id: int) -> None:
        """A participant asks for bodies: a chunk to check, or the end of its task."""
        shared = self.desk.shared[scc_id]
        chunk = self.desk.chunk(worker, scc_id, self.scheduler.top_priority())
        if chunk:
            assert self.sharing is not None
            bodies = self.sharing.bodies[scc_id]
            work = sum(bodies[module_id] for module_id in chunk)
            self.busy += work
            self.push(self.now + self.overheads.round_trip + work, _ASK, worker, scc_id)
            return
        self.desk.task_over(worker)
        shared.leave(worker)
        if shared.stalled():
            raise SimulationError(f"shared SCC {scc_id} has bodies left but no participant")
        if shared.done(scc_id in self.interface_at):
            del self.desk.shared[scc_id]
            self.scheduler.implementation_done(scc_id)
        self.task_over(worker)


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
