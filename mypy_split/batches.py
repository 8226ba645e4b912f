"""Small tasks sent together: which ones, how they go out, and what losing them means.

On thousands of tiny SCCs each task costs the coordinator a wake-up, a trip
round its loop and, on a machine with few CPUs, the CPU a worker was using
meanwhile.  A batch is several small queued SCCs written to one worker at
once; their results come back in one write after the last one's
(`CheckScc.hold_results`), so the coordinator wakes up once for the batch.

Holding results back blurs blame: a worker lost during a batch may have
finished the SCC the coordinator thinks it was on.  So each SCC of a lost
batch counts the loss as one attempt, as if it had been alone, and from then
on runs alone: an SCC that kills workers is lost a second time on its own,
and named.  Only SCCs never lost before join a batch.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from mypy_split import shared_tasks

if TYPE_CHECKING:
    from mypy_split.parallel import Coordinator
    from mypy_split.pool import WorkerHandle, WorkerPool


def ending_soon(coordinator: Coordinator, worker: WorkerHandle, now: float) -> bool:
    """Whether the worker's tasks, none shared, are expected to end within the send-ahead time.

    Its current task and those queued behind it: the results of a batch
    come back together, so the coordinator cannot see it half done.
    """
    c = coordinator
    scc_id = worker.task
    if scc_id is None or scc_id in c.sharing.shared or worker.index in c.sharing.helping:
        return False
    left = sum(sum(c.scc_costs[queued]) for queued in [scc_id, *worker.queued])
    elapsed = now - c.task_began.get(worker.index, now)
    return left - elapsed <= c.send_ahead_seconds


def may_join(coordinator: Coordinator, scc_id: int, worker: WorkerHandle) -> bool:
    """Whether this SCC may be one of a batch for this worker.

    Not one lost before, nor one that may be shared (its bodies are asked
    for as it goes), nor one the worker would first have to check
    dependencies for again, or may not run at all.
    """
    return (
        scc_id not in coordinator.attempts
        and shared_tasks.shareable_seconds(coordinator, scc_id) == 0
        and worker.index in coordinator.sharing.untainted(scc_id, [worker.index])
        and not coordinator.affinity.missing(scc_id, worker.index)
    )


def take_small_tasks(coordinator: Coordinator, worker: WorkerHandle, budget: float, limit: int) -> list[int]:
    """Queued SCCs, in the scheduler's order, that together are expected to take at most `budget` seconds.

    At most `limit` of them; taken out of the queue.  The first that does
    not fit, or may not join a batch, stays queued and ends the batch.
    """
    scheduler = coordinator.scheduler
    taken: list[int] = []
    while len(taken) < limit:
        scc_id = scheduler.next_small_task(budget)
        if scc_id is None:
            break
        if not may_join(coordinator, scc_id, worker):
            scheduler.task_lost(scc_id)
            break
        taken.append(scc_id)
        budget -= sum(coordinator.scc_costs[scc_id])
    return taken


def fair_share(coordinator: Coordinator, pool: WorkerPool) -> int:
    """How many more queued SCCs one worker's batch may take: the others get as many."""
    return coordinator.scheduler.queued_count() // max(1, len(pool.live_workers))


def send(coordinator: Coordinator, pool: WorkerPool, worker: WorkerHandle, scc_ids: list[int]) -> None:
    """Write these tasks to the worker at once; all but the last hold their results for it.

    They run after the worker's current task, if it has one.
    """
    frames = []
    for position, scc_id in enumerate(scc_ids):
        coordinator.affinity.assign(scc_id, worker.index)
        message = coordinator.task_message(worker, scc_id, [])
        message.hold_results = position < len(scc_ids) - 1
        if message.hold_results:
            worker.holding.add(scc_id)
        if worker.task is None:
            coordinator.begin_task(worker, scc_id, message.one_piece)
        else:
            worker.queued.append(scc_id)
            coordinator.tasks.start(scc_id, "whole" if message.one_piece else "interface", worker.index)
        frames.append(message)
    coordinator.task_sent_at[worker.index] = time.monotonic()
    if len(scc_ids) > 1:
        coordinator.manager.log(f"Worker {worker.index} gets a batch of SCCs {' '.join(map(str, scc_ids))}")
    pool.send_all(worker, frames)


def lose(coordinator: Coordinator, worker: WorkerHandle) -> bool:
    """A lost worker was in a batch that held results back: each of its SCCs lost one attempt, and is queued again.

    False if it was not (its current task is to blame, as for a single task).
    """
    scc_id = worker.task
    if scc_id is None or scc_id not in worker.holding:
        return False
    for lost in [scc_id, *worker.queued]:
        coordinator.tasks.end(lost, False)
        if lost in coordinator.interfaces_reported:
            # Cut off in the middle of the batch's results: other workers
            # may hold this interface from the cache by now.  Finished here.
            coordinator.take_over(lost)
        else:
            coordinator.scheduler.task_lost(lost)
        coordinator.attempts[lost] = coordinator.attempts.get(lost, 0) + 1
    coordinator.manager.log(f"Worker {worker.index} was lost in a batch: its SCCs are queued again, each alone")
    worker.task = None
    worker.queued.clear()
    worker.holding.clear()
    return True
