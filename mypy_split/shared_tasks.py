"""A big SCC's bodies shared among workers: the coordinator's side (see sharing.py).

The coordinator offers a task's bodies for sharing when it sends it, puts
idle workers to work as helpers while nothing else waits, hands out chunks
of bodies on request, and merges the participants' results into the SCC's
once the owner has committed the interface and every body is checked.
These are the coordinator's own steps, kept here apart from its dispatch
and its replay; the decisions are the `SharingDesk`'s.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from mypy_split import phases, sharing
from mypy_split.tuning import SHARED_COPY_BYTES_PER_SOURCE_BYTE

if TYPE_CHECKING:
    from mypy_split.parallel import Coordinator
    from mypy_split.pool import WorkerHandle, WorkerPool
    from mypy_split.protocol import CheckScc, TimedSpan


def maybe_share(coordinator: Coordinator, scc_id: int, owner: WorkerHandle, message: CheckScc) -> None:
    """Make the task a shared one if the SCC's bodies are worth several processes."""
    expected = expected_costs(coordinator, scc_id)
    if expected is not None:
        bodies, interface = expected
        message.shared = coordinator.sharing.offer(
            scc_id, owner.index, bodies, interface, time.monotonic(), copy_bytes(coordinator, scc_id)
        )


def copy_bytes(coordinator: Coordinator, scc_id: int) -> int:
    """Expected memory of one more process holding the SCC, from its modules' source sizes."""
    states = [coordinator.graph[module_id] for module_id in coordinator.plan.scc(scc_id).mod_ids]
    source = sum(coordinator.costs.module_size(state) for state in states)
    return source * SHARED_COPY_BYTES_PER_SOURCE_BYTE


def shareable_seconds(coordinator: Coordinator, scc_id: int) -> float:
    """Seconds of the SCC's bodies that other workers could take off its owner (0: it will not be shared).

    With N workers, N - 1 helpers can each take about 1/N of the bodies;
    a retried SCC may lose its sharing, which only this estimate misses.
    """
    expected = expected_costs(coordinator, scc_id)
    if expected is None or coordinator.worker_count < 2:
        return 0.0
    bodies = expected[0]
    if not sharing.worth_sharing(bodies, coordinator.sharing.share_min):
        return 0.0
    return sum(bodies.values()) * (1 - 1 / coordinator.worker_count)


def expected_costs(coordinator: Coordinator, scc_id: int) -> tuple[dict[str, float], float] | None:
    """Expected seconds of each body and of the interface of an SCC that sharing may split, else None.

    Reports and fine-grained dependencies are gathered per task as a
    whole SCC, so they turn sharing off; a one-module SCC has nothing to
    split, and one that must be checked in one piece cannot be split.
    """
    if coordinator.manager.reports is not None or coordinator.manager.options.cache_fine_grained:
        return None
    scc = coordinator.plan.scc(scc_id)
    if len(scc.mod_ids) < 2 or phases.needs_one_piece(scc, coordinator.graph):
        return None
    return coordinator.costs.bodies_and_interface(phases.order_in_scc(scc, coordinator.graph), coordinator.graph)


def help_ahead_of_queue(coordinator: Coordinator, pool: WorkerPool, worker: WorkerHandle) -> bool:
    """An idle worker helps with a shared SCC's bodies rather than take queued work, if they are the build's tail.

    Queued work goes first while it keeps the other workers busy as long as
    the bodies, shared as now, take.  Bodies that outlast both the longest
    chain not started and the work not started spread over the other
    workers are what the build ends with: one more process on them ends it
    sooner.  With forked sharing the worker waits for a copy of the owner,
    forked at the owner's next ask for bodies.  True if the worker was used.
    """
    for scc_id, shared in coordinator.sharing.shared.items():
        if not shared.forkable or not shared.pending:
            continue
        waiting = sum(1 for other in pool.live_workers if other.parked_for == shared.owner)
        if shared.may_fork_ahead(
            waiting, coordinator.sharing.share_min, rest_of_build(coordinator, pool, scc_id)
        ) and coordinator.sharing.copies_in_memory(shared, waiting + 1) > waiting:
            worker.parked_for = shared.owner
            coordinator.manager.log(
                f"Worker {worker.index} waits for the forked copies of worker {shared.owner}, ahead of queued work"
            )
            return True
    return join_as_helper(coordinator, pool, worker, ahead=True)


def rest_of_build(coordinator: Coordinator, pool: WorkerPool, scc_id: int) -> float:
    """How long the workers not on this shared SCC, one more taken, stay busy with the rest of the build.

    On it are its owner, its helpers still at work, and the workers parked for the owner's copies.
    """
    shared = coordinator.sharing.shared[scc_id]
    now = time.monotonic()
    running: dict[int, float] = {}
    parked = 0
    for worker in pool.live_workers:
        parked += worker.parked_for == shared.owner
        if worker.task is not None and worker.task != scc_id:
            running[worker.task] = now - coordinator.task_began.get(worker.index, now)
        for queued in worker.queued:
            running[queued] = 0.0
    participants = 1 + len(shared.helpers - shared.finished) + parked
    return coordinator.scheduler.rest_of_build(scc_id, running, len(pool.live_workers) - participants - 1)


def join_as_helper(coordinator: Coordinator, pool: WorkerPool, worker: WorkerHandle, ahead: bool = False) -> bool:
    """Put an idle worker to work on a shared SCC, if one still has enough bodies left; True if it was.

    Only while nothing is queued, or `ahead` of queued work when the bodies
    are the build's tail (`help_ahead_of_queue`).
    """
    if coordinator.scheduler.has_queued() and not ahead:
        return False
    now = time.monotonic()
    sent_at = coordinator.task_sent_at.get(worker.index, 0.0)

    def may_help(scc_id: int) -> bool:
        # Not if it may have loaded the SCC from the cache for a dependent:
        # those trees have no bodies to check.
        return scc_id not in coordinator.local and sent_at < coordinator.interface_at.get(scc_id, now)

    others_path: Callable[[int], float] = coordinator.scheduler.longest_unstarted_path
    if ahead:
        others_path = functools.partial(rest_of_build, coordinator, pool)
    scc_id = coordinator.sharing.helper_task(worker.index, now, may_help, others_path, ahead)
    if scc_id is None:
        return False
    if ahead:
        coordinator.manager.log(f"Worker {worker.index} helps with the bodies of SCC {scc_id} ahead of queued work")
    # The helper repeats the interface in memory: it holds the SCC and
    # must hold what the SCC needs, like any task.
    message = coordinator.task_message(worker, scc_id, coordinator.to_recheck(scc_id, worker))
    message.shared = message.helper = True
    worker.task = scc_id
    coordinator.task_sent_at[worker.index] = now
    pool.send(worker, message)
    return True


def hand_bodies(coordinator: Coordinator, worker: WorkerHandle, scc_id: int) -> None:
    """The next chunk of bodies for a participant that asked (TakeBodies).

    With forked sharing, idle workers are parked instead when the owner asks:
    it then takes every body left and checks them with as many forked copies
    of itself (build_worker/forked.py), which repeat no interface.
    """
    from mypy_split.protocol import Bodies

    if scc_id in coordinator.local:
        # Taken back from sharing: the task just ends.
        coordinator.ensure_pool().send(worker, Bodies(scc_id, []))
        return
    forks = park_for_forks(coordinator, worker, scc_id)
    if forks:
        chunk = coordinator.sharing.shared[scc_id].hand_all(worker.index, forks)
    else:
        chunk = coordinator.sharing.chunk(worker.index, scc_id, coordinator.scheduler.top_priority())
    coordinator.ensure_pool().send(worker, Bodies(scc_id, chunk, forks))


def park_for_forks(coordinator: Coordinator, owner: WorkerHandle, scc_id: int) -> int:
    """How many children the owner forks now (0: none); that many workers wait meanwhile.

    Those reserved at the owner's commit (`reserve_for_forks`) come first;
    other idle workers only when nothing is queued.  Reserved workers not
    needed after all are let go.
    """
    shared = coordinator.sharing.shared.get(scc_id)
    pool = coordinator.pool
    if shared is None or pool is None or not shared.pending:
        # Nothing left to hand out: workers still parked wait for copies forked earlier.
        return 0
    reserved = [worker for worker in pool.live_workers if worker.parked_for == owner.index]
    idle = [] if coordinator.scheduler.has_queued() else idle_workers(pool, owner)
    candidates = reserved + idle
    forks = shared.forks_for(owner.index, len(candidates), coordinator.sharing.share_min)
    forks = coordinator.sharing.copies_in_memory(shared, forks)
    for worker in candidates[:forks]:
        worker.parked_for = owner.index
    for worker in candidates[forks:]:
        worker.parked_for = None
    if forks:
        coordinator.manager.log(f"Worker {owner.index} checks the bodies of SCC {scc_id} with {forks} forked copies")
    return forks


def reserve_for_forks(coordinator: Coordinator, owner: WorkerHandle, scc_id: int) -> None:
    """The owner of a forkable shared SCC committed its interface: idle workers wait for its copies.

    Its dependents were queued at that moment and would take the idle
    workers before the owner's ask for bodies arrives, leaving it to check
    them alone.  When the bodies, shared, still take longer than any SCC not
    started yet, the workers are better spent on them.
    """
    shared = coordinator.sharing.shared.get(scc_id)
    pool = coordinator.pool
    if shared is None or pool is None or not shared.forkable or owner.index != shared.owner:
        return
    idle = idle_workers(pool, owner)
    others_path = coordinator.scheduler.longest_unstarted_path(scc_id)
    # Fewer copies than would pay still pay: each share is only bigger.
    wanted = coordinator.sharing.copies_in_memory(
        shared, shared.reserve(len(idle), coordinator.sharing.share_min, others_path)
    )
    for worker in idle[:wanted]:
        worker.parked_for = owner.index
        coordinator.manager.log(f"Worker {worker.index} waits for the forked copies of worker {owner.index}")


def idle_workers(pool: WorkerPool, owner: WorkerHandle) -> list[WorkerHandle]:
    return [
        worker
        for worker in pool.live_workers
        if worker is not owner and worker.task is None and not worker.queued and worker.parked_for is None
    ]


def unpark(coordinator: Coordinator, owner: WorkerHandle, scc_id: int, forked_spans: list[list[TimedSpan]]) -> None:
    """The owner's task is over: the workers parked for its children are free; each child's spans go on one's row."""
    pool = coordinator.pool
    if pool is None:
        return
    parked = [worker for worker in pool.workers if worker.parked_for == owner.index]
    for worker, spans in zip(parked, forked_spans):
        coordinator.observer.worker_spans(worker.index, scc_id, spans)
    for worker in parked:
        worker.parked_for = None


def maybe_finish_shared(coordinator: Coordinator, scc_id: int) -> None:
    """The shared SCC's result, once the owner's commit and every body are in; or take-over if it stalled."""
    shared = coordinator.sharing.shared[scc_id]
    if shared.stalled():
        # Nobody left to ask for the rest (helpers gone): this process takes it.
        coordinator.take_over(scc_id)
        return
    if not shared.done(scc_id in coordinator.interfaces_reported):
        return
    del coordinator.sharing.shared[scc_id]
    order = phases.order_in_scc(coordinator.plan.scc(scc_id), coordinator.graph)
    merged = sharing.merge(shared, order, coordinator.source_hashes, coordinator.graph, coordinator.manager)
    coordinator.finish_result(merged, merged.seconds)
