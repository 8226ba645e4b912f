"""A big SCC's bodies shared among workers: the coordinator's side (see sharing.py).

The coordinator offers a task's bodies for sharing when it sends it, puts
idle workers to work as helpers while nothing else waits, hands out chunks
of bodies on request, and merges the participants' results into the SCC's
once the owner has committed the interface and every body is checked.
These are the coordinator's own steps, kept here apart from its dispatch
and its replay; the decisions are the `SharingDesk`'s.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from mypy_split import phases, sharing

if TYPE_CHECKING:
    from mypy_split.parallel import Coordinator
    from mypy_split.pool import WorkerHandle, WorkerPool
    from mypy_split.protocol import CheckScc


def maybe_share(coordinator: Coordinator, scc_id: int, owner: WorkerHandle, message: CheckScc) -> None:
    """Make the task a shared one if the SCC's bodies are worth several processes.

    Reports and fine-grained dependencies are gathered per task as a
    whole SCC, so they turn sharing off; so does a retry.
    """
    if coordinator.manager.reports is not None or coordinator.manager.options.cache_fine_grained:
        return
    scc = coordinator.plan.scc(scc_id)
    if len(scc.mod_ids) < 2:
        return
    bodies, interface = coordinator.costs.bodies_and_interface(phases.order_in_scc(scc, coordinator.graph), coordinator.graph)
    message.shared = coordinator.sharing.offer(scc_id, owner.index, bodies, interface, time.monotonic())

def join_as_helper(coordinator: Coordinator, pool: WorkerPool, worker: WorkerHandle) -> None:
    """Put an idle worker to work on a shared SCC, if one still has enough bodies left."""
    if coordinator.scheduler.has_queued():
        return
    now = time.monotonic()
    sent_at = coordinator.task_sent_at.get(worker.index, 0.0)

    def may_help(scc_id: int) -> bool:
        # Not if it may have loaded the SCC from the cache for a dependent:
        # those trees have no bodies to check.
        return scc_id not in coordinator.local and sent_at < coordinator.interface_at.get(scc_id, now)

    scc_id = coordinator.sharing.helper_task(worker.index, now, may_help, coordinator.scheduler.longest_unstarted_path)
    if scc_id is None:
        return
    # The helper repeats the interface in memory: it holds the SCC and
    # must hold what the SCC needs, like any task.
    message = coordinator.task_message(scc_id, coordinator.to_recheck(scc_id, worker))
    message.shared = message.helper = True
    worker.task = scc_id
    coordinator.task_sent_at[worker.index] = now
    pool.send(worker, message)

def hand_bodies(coordinator: Coordinator, worker: WorkerHandle, scc_id: int) -> None:
    """The next chunk of bodies for a participant that asked (TakeBodies)."""
    from mypy_split.protocol import Bodies

    # None for an SCC taken back from sharing: the task just ends.
    chunk = [] if scc_id in coordinator.local else coordinator.sharing.chunk(worker.index, scc_id, coordinator.scheduler.top_priority())
    coordinator.ensure_pool().send(worker, Bodies(scc_id, chunk))

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
