"""Lost workers are replaced mid-run while the work left pays for a new process.

A worker can die of a signal (the kernel's out-of-memory killer, a user's
`kill`) or be retired by the coordinator (after a blocker, or a head start it
refused).  Its task runs again elsewhere (parallel.py).  Without a
replacement the run would go on with fewer workers and, once none is left,
check the rest in the coordinator, which then loads from the cache what the
workers checked: slower, and for the few constructs that the engine answers
differently from the cache, an answer the coordinator cannot always confirm
(README "Known limits").  So, as pytest-xdist restarts crashed workers, a
lost worker is replaced by a new one: at most as many times in a run as the
run has workers (or `MYPY_SPLIT_WORKER_REPLACEMENTS`), and only while the
work not started yet is at least what makes workers pay at all
(tuning.POOL_WORTH_SECONDS): a fresh interpreter costs its start-up and the
graph.  A task that kills two workers still ends the run (parallel.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mypy_split.tuning import POOL_WORTH_SECONDS, POOL_WORTH_VARIABLE, seconds_from_environment, worker_replacements

if TYPE_CHECKING:
    from mypy_split.parallel import Coordinator
    from mypy_split.pool import WorkerPool


class Replacements:
    """How many workers a run may still start in place of lost ones."""

    def __init__(self, budget: int, minimum_work: float) -> None:
        self.left = budget
        self.minimum_work = minimum_work

    def wanted(self, live: int, target: int, unstarted_work: float) -> int:
        """How many to start now: the workers missing, within the budget, if the work left pays."""
        if self.left <= 0 or live >= target or unstarted_work <= 0 or unstarted_work < self.minimum_work:
            return 0
        return min(self.left, target - live)

    @classmethod
    def for_run(cls, workers: int) -> Replacements:
        return cls(worker_replacements(workers), seconds_from_environment(POOL_WORTH_VARIABLE, POOL_WORTH_SECONDS))

    def take(self) -> None:
        self.left -= 1


def replace_lost(coordinator: Coordinator, pool: WorkerPool) -> None:
    """Start new workers for lost ones, if wanted; they get the hello, and the graph if it went out."""
    c = coordinator
    live = len(pool.live_workers)
    if live >= c.worker_count:
        return  # the usual case, on every round of the coordinator's loop
    count = c.replacements.wanted(live, c.worker_count, c.scheduler.unstarted_work())
    if count <= 0:
        return
    from mypy_split import task_messages
    from mypy_split.protocol import encode

    frames = encode(c.hello())
    if c.graph_sent:
        frames += encode(task_messages.graph_message(c.plan, c.manager))
    for _ in range(count):
        worker = pool.add_worker(frames)
        if worker is None:
            return
        c.replacements.take()
        c.manager.log(f"Worker {worker.index} (pid {worker.pid}) starts in place of a lost one")
