"""Trees an idle worker builds ahead of their tasks, and the preference for its own when tasks are handed out.

On an empty cache every module waits for the builtins cycle, and once the
graph has reached the workers, those not checking that cycle have nothing
to do (about half a second on two cores: the self-check's and textual's
traces).  Building a module's tree from the native parser's bytes is about a
twentieth of its checking, depends on nothing else, and with sequential mypy
happens during the graph load anyway.  So while no task is queued, an idle
worker is sent, batch by batch (`tuning.PREPARE_BATCH_BYTES`), the trees of
SCCs waiting for their dependencies, the longest critical path first: those
the queue will offer first.  A tree helps only the worker that checks its
module, so the waiting SCCs are dealt out once, in that order, one to each
live worker in turn, and a worker builds those dealt to it first (then,
still idle, the others: a worker busy meanwhile leaves its own unbuilt).  When tasks are handed out, a worker
takes among the first queued SCCs (two per live worker) one whose trees it
built, else one built nowhere, and the first only if all were built
elsewhere: since the queue starts in the order the SCCs were dealt, each
worker mostly finds its own.  A tree built in vain costs only idle time.
The worker's side is build_worker/prepared.py: what it keeps, and why the
answer cannot change.

Eligible SCCs are those whose every module this process parsed with imports
only and found clean: no parse error and no inline `# mypy:` options, the
two things a worker would report or apply while building.

The selection (`choose_batch`, `pick_from`) is pure; `TreePreparer` keeps the
state of a run.  `MYPY_SPLIT_PREPARE_TREES=0` turns it off.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from mypy.build import Graph

from mypy_split import raw_trees
from mypy_split.tuning import PREPARE_BATCH_BYTES

if TYPE_CHECKING:
    from mypy_split.parallel import Coordinator
    from mypy_split.pool import WorkerHandle, WorkerPool
    from mypy_split.protocol import TreesPrepared


def choose_batch(waiting: Iterable[int], sizes: Mapping[int, int | None], budget: int) -> list[int]:
    """SCCs from `waiting`, in its order, until their bytes reach `budget` (at least one if any is eligible).

    A size of None marks an SCC that cannot be prepared.
    """
    batch: list[int] = []
    total = 0
    for scc_id in waiting:
        size = sizes.get(scc_id)
        if size is None:
            continue
        if batch and total + size > budget:
            break
        batch.append(scc_id)
        total += size
        if total >= budget:
            break
    return batch


def pick_from(window: Sequence[int], executor: int, prepared_on: Mapping[int, int]) -> int | None:
    """The SCC of `window` (the first queued, in order) this executor should take, or None for the first.

    Its own prepared SCC first, then one prepared nowhere; None when every
    SCC of the window was prepared elsewhere (it then takes the first anyway).
    """
    unprepared = None
    for scc_id in window:
        holder = prepared_on.get(scc_id)
        if holder == executor:
            return scc_id
        if holder is None and unprepared is None:
            unprepared = scc_id
    return unprepared


class TreePreparer:
    """Which SCCs' trees each worker holds or is building; sizes of what may be prepared."""

    def __init__(self, graph: Graph, modules_of: Callable[[int], Iterable[str]], enabled: bool) -> None:
        self.graph = graph
        self.modules_of = modules_of
        self.enabled = enabled
        # SCC -> the worker holding its trees, until a worker takes the SCC.
        self.prepared_on: dict[int, int] = {}
        # Worker -> the SCCs of the batch it is building.
        self.in_flight: dict[int, list[int]] = {}
        # SCC -> the worker (index modulo the live workers) it is dealt to, from the first batch on.
        self.dealt: dict[int, int] = {}
        # Every SCC ever sent to be built: one a worker left alone would be left alone again.
        self.sent: set[int] = set()
        self._sizes: dict[int, int | None] = {}
        # Set once nothing is left to build ahead: the rest of the run never looks again.
        self.exhausted = False
        # Modules prepared and then taken by the worker that built them.
        self.used_modules = 0
        self.sent_modules = 0

    def size(self, scc_id: int) -> int | None:
        """Bytes of the SCC's parsed trees, or None if it cannot be prepared."""
        if scc_id not in self._sizes:
            self._sizes[scc_id] = self._measure(scc_id)
        return self._sizes[scc_id]

    def _measure(self, scc_id: int) -> int | None:
        total = 0
        for module_id in self.modules_of(scc_id):
            state = self.graph[module_id]
            data = raw_trees.raw_data(state)
            if data is None or data.raw_errors or data.mypy_comments:
                return None
            total += len(data.defs)
        return total

    def next_batch(self, worker: int, waiting: Sequence[int], live_workers: int, batch_bytes: int) -> list[int]:
        """The SCCs this idle worker builds next, or none; recorded as in flight."""
        if not self.enabled or self.exhausted or worker in self.in_flight:
            return []
        if not self.dealt:
            eligible = [scc_id for scc_id in waiting if self.size(scc_id) is not None]
            self.dealt = {scc_id: position % live_workers for position, scc_id in enumerate(eligible)}
            if not self.dealt:
                self.exhausted = True
                return []
        left = [scc_id for scc_id in waiting if scc_id in self.dealt and scc_id not in self.sent]
        if not left:
            # Dealt SCCs never come back: nothing will be built ahead any more.
            self.exhausted = True
            return []
        # Its own first; then, still idle, those dealt to workers busy meanwhile.
        mine = [scc_id for scc_id in left if self.dealt[scc_id] == worker % live_workers] or left
        batch = choose_batch(mine, {scc_id: self.size(scc_id) for scc_id in mine}, batch_bytes)
        self.in_flight[worker] = batch
        self.sent.update(batch)
        self.sent_modules += sum(len(list(self.modules_of(scc_id))) for scc_id in batch)
        return batch

    def built(self, worker: int, module_ids: Iterable[str]) -> None:
        """The worker's batch is over: it holds the trees of `module_ids` (the others it left alone)."""
        kept = set(module_ids)
        for scc_id in self.in_flight.pop(worker, []):
            if all(module_id in kept for module_id in self.modules_of(scc_id)):
                self.prepared_on[scc_id] = worker

    def pick(self, window: Sequence[int], worker: int) -> int | None:
        """`pick_from` over the first queued SCCs; None if nothing prepared is pending."""
        if not self.prepared_on:
            return None
        return pick_from(window, worker, self.prepared_on)

    def started(self, scc_id: int, worker: int | None) -> None:
        """The SCC was handed to a worker (None: to this process); its prepared trees are no longer pending."""
        holder = self.prepared_on.pop(scc_id, None)
        if holder is not None and holder == worker:
            self.used_modules += len(list(self.modules_of(scc_id)))

    def lost(self, worker: int) -> None:
        """The worker is gone: nothing it built or was building counts any more."""
        self.in_flight.pop(worker, None)
        for scc_id in [scc_id for scc_id, holder in self.prepared_on.items() if holder == worker]:
            del self.prepared_on[scc_id]


# -- the coordinator's steps -----------------------------------------------------


def offer_to_idle_workers(coordinator: Coordinator, pool: WorkerPool) -> None:
    """While nothing is queued: a batch of trees to build for each worker with nothing to do."""
    from mypy_split.task_messages import prepare_message

    preparer = coordinator.preparer
    if not preparer.enabled or preparer.exhausted or not coordinator.graph_sent:
        return
    idle = [
        worker
        for worker in pool.live_workers
        if worker.task is None and worker.parked_for is None and worker is not coordinator.head_start_worker
        and worker.index not in preparer.in_flight
    ]
    if not idle:
        return
    waiting = [scc_id for scc_id in coordinator.scheduler.waiting_by_priority() if scc_id not in coordinator.local]
    for worker in idle:
        batch = preparer.next_batch(worker.index, waiting, len(pool.live_workers), PREPARE_BATCH_BYTES)
        if not batch:
            continue
        module_ids = [module_id for scc_id in batch for module_id in sorted(coordinator.plan.scc(scc_id).mod_ids)]
        pool.send(worker, prepare_message(coordinator.graph, coordinator.manager, module_ids))


def on_built(coordinator: Coordinator, worker: WorkerHandle, message: TreesPrepared) -> None:
    coordinator.observer.worker_spans(worker.index, None, message.spans)
    coordinator.preparer.built(worker.index, message.module_ids)


def pick_task(coordinator: Coordinator, worker: int) -> int | None:
    """The queued SCC this worker starts next: the scheduler's first, unless trees built ahead say otherwise."""
    scheduler = coordinator.scheduler
    width = 2 * len(coordinator.pool.live_workers) if coordinator.pool is not None else 1
    chosen = coordinator.preparer.pick(scheduler.first_queued(width), worker)
    if chosen is None:
        return scheduler.next_task()
    scheduler.take(chosen)
    return chosen


def report(coordinator: Coordinator) -> None:
    preparer = coordinator.preparer
    if preparer.sent_modules:
        coordinator.manager.log(
            f"Trees built ahead by idle workers: {preparer.sent_modules} modules sent, "
            f"{preparer.used_modules} taken by the worker that built them"
        )
