"""The coordinator of a parallel build: real work in any order, output in mypy's.

Two state machines run side by side.  The `ParallelScheduler` decides what
the workers do: an SCC is classified (fresh or stale) here as soon as its
dependencies' interfaces are known, and stale ones go to workers by critical
path.  The `SequentialLoop` replays mypy's own sequential loop over the same
answers and says when each SCC's lines may be printed; lines wait until then.

Only-once notes: a worker filters them within its task exactly as mypy
would; across tasks, the replay keeps the first in sequential order
(`result_printer.py`).

Cache versus memory (`affinity.py`): a task runs where the dependencies it
needs in memory are held, or its worker checks them again.

An SCC whose task ended in a blocker or an internal error, or that has no
live worker left (lost ones are replaced while the work left pays:
`replacements.py`), is checked here, in-process, when the replay reaches it:
mypy's own exception then surfaces at the same point of the output.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from mypy.build import BuildManager

from mypy_split import batches, confirm, fine_grained, head_start, phases, shared_tasks, sharing
from mypy_split.affinity import LOCAL, MemoryAffinity, choose_task
from mypy_split.build_worker import faults
from mypy_split.costs import CostModel, LazyCosts
from mypy_split.failures import ReloadWithoutWorkers, WorkerCrashed
from mypy_split.graph import BuildPlan
from mypy_split.local_check import check_in_coordinator
from mypy_split.observe import NULL_OBSERVER, BuildObserver, RunningTasks
from mypy_split.parse_gate import ParseGate
from mypy_split.pool_decision import StaleWork
from mypy_split.replacements import Replacements, replace_lost
from mypy_split.result_printer import ResultPrinter
from mypy_split.sensitive import Sensitivity
from mypy_split.stored_order import StoredOrders
from mypy_split.schedule import (
    Action, Classify, Finished, ParallelScheduler, RunImplementation, RunInterface, SequentialLoop,
)
from mypy_split.tuning import (
    BATCH_SECONDS,
    BATCH_VARIABLE,
    COLLECT_TAIL_SECONDS,
    COLLECT_TAIL_VARIABLE,
    RESULTS_TOGETHER_SECONDS,
    SEND_AHEAD_SECONDS,
    SEND_AHEAD_VARIABLE,
    available_memory,
    seconds_from_environment,
)

if TYPE_CHECKING:
    # Imported with the first worker at run time: a run with nothing stale never pays for them.
    from mypy_split.pool import WorkerHandle, WorkerPool
    from mypy_split.protocol import CheckScc, Hello, ImplementationDone, InterfaceDone

MAX_ATTEMPTS = 2


class Coordinator:
    def __init__(
        self,
        plan: BuildPlan,
        manager: BuildManager,
        workers: int,
        hello: Callable[[], Hello],
        show: phases.ShowErrors,
        pool: WorkerPool | None = None,
        costs: CostModel | None = None,
        observer: BuildObserver = NULL_OBSERVER,
    ) -> None:
        self.plan = plan
        self.graph = plan.graph
        self.manager = manager
        self.worker_count = workers
        # Called when the first worker starts: a run with nothing stale never imports the protocol.
        self.hello = hello
        self.pool = pool  # It may have been started early (cold cache); it is ours now.
        # Descriptors the workers inherit (the cache lock).
        self.pass_fds: tuple[int, ...] = ()
        self.graph_sent = False
        # Shown lines wait until every module parsed here is known to build whole.
        self.gate = ParseGate(plan.graph, manager, show)
        self.show = self.gate.show
        self.observer = observer
        self.costs = costs if costs is not None else CostModel({}, None)
        self.scc_costs = LazyCosts(self.costs, plan)
        self.scheduler = ParallelScheduler(plan.nodes, self.scc_costs)
        self.affinity = MemoryAffinity(plan.nodes)
        self.stored_orders = StoredOrders()  # Of the modules checked, for processes loading them.
        self.send_ahead_seconds = seconds_from_environment(SEND_AHEAD_VARIABLE, SEND_AHEAD_SECONDS)
        self.collect_tail_seconds = seconds_from_environment(COLLECT_TAIL_VARIABLE, COLLECT_TAIL_SECONDS)
        self.batch_seconds = seconds_from_environment(BATCH_VARIABLE, BATCH_SECONDS)
        self.stale_work: StaleWork[int] = StaleWork(
            lambda scc_id: sum(self.scc_costs[scc_id]), lambda scc_id: shared_tasks.shareable_seconds(self, scc_id)
        )
        self.interface_seconds: dict[int, float] = {}
        self.replay = SequentialLoop(plan.nodes)
        self.replay_action: Action = self.replay.start()
        self.fresh: dict[int, bool] = {}
        self.fresh_errors: dict[int, list[phases.ModuleErrors]] = {}
        self.tasks = RunningTasks(observer, lambda scc_id: len(plan.scc(scc_id).mod_ids))
        self.results: dict[int, ImplementationDone] = {}
        self.local: set[int] = set()
        # Checked by a worker, then again here for mypy's wording (confirm.py).
        self.confirming: set[int] = set()
        self.confirm_budget = confirm.Budget.from_environment(self.affinity.kept is Sensitivity.MESSAGES)
        self.interfaces_reported: set[int] = set()
        self.attempts: dict[int, int] = {}
        self.replacements = Replacements.for_run(workers)
        self.source_hashes: dict[str, str] = {}  # Per module checked on a worker, of what it checked.
        self.printer = ResultPrinter(
            self.graph, manager, self.show, self.source_hashes, lambda scc_id: phases.order_in_scc(plan.scc(scc_id), self.graph)
        )
        self.sharing = sharing.SharingDesk(
            sharing.share_min_seconds(), sharing.forked_sharing(self.worker_count), available_memory, manager.log
        )
        # Known stale already (after `sharing`: the stale work asks what it may share).
        for scc in plan.sccs:
            if any(self.graph[module_id].meta is None for module_id in scc.mod_ids):
                self.stale_work.stale(scc.id)
        # When each worker was last sent a task, and when each SCC's interface
        # was reported: only tasks sent after that may depend on the SCC.
        self.task_sent_at: dict[int, float] = {}
        self.task_began: dict[int, float] = {}  # Its current task began: sent, or the one before ended.
        self.interface_at: dict[int, float] = {}
        # A worker checking the builtins cycle ahead (head_start.py), until its report is judged;
        # then, per worker index, the SCC its results (under HEAD_START_SCC) stand for.
        self.head_start_worker = pool.workers[0] if pool is not None and pool.head_start else None
        self.head_start_scc: dict[int, int] = {}

    def run(self) -> None:
        completed = False
        self.observer.build_planned(len(self.graph), len(self.plan.sccs), self.worker_count)
        try:
            self.classify_ready()
            while not isinstance(self.replay_action, Finished):
                self.dispatch()
                if self.advance_replay():
                    continue
                self.wait_for_workers()
            # Every parsed module was checked, so this builds nothing (a safety net).
            self.gate.build_all_here()
            completed = True
        except ReloadWithoutWorkers:
            # Stopped first, so that no worker writes to the cache any more.
            self.stop_pool(completed)
            self.gate.forget_cache_entries()
            raise
        finally:
            self.stop_pool(completed)

    def stop_pool(self, completed: bool) -> None:
        if self.pool is not None:
            # Interrupted or failed: workers' work is of no use, stop them now.
            self.pool.close() if completed else self.pool.kill()
            self.pool = None

    def stale_scc_ids(self) -> set[int]:
        return {scc_id for scc_id, fresh in self.fresh.items() if not fresh}

    # -- classification -------------------------------------------------------

    def classify_ready(self) -> None:
        """Classify every SCC whose dependencies' interfaces are known; hold fresh lines.

        A fresh SCC releases its dependents at once, so this repeats until no
        SCC is left to classify.
        """
        while ready := self.scheduler.take_classifiable():
            # One engine call for all of them (each SCC is judged on its own).
            classified = phases.classify([self.plan.scc(scc_id) for scc_id in ready], self.graph, self.manager)
            fresh_ids = set(classified.fresh)
            for scc_id in ready:
                fresh = scc_id in fresh_ids
                self.fresh[scc_id] = fresh
                self.fresh_errors[scc_id] = classified.cached_by_scc.get(scc_id, [])
                if fresh:
                    self.observer.scc_fresh(scc_id, len(self.plan.scc(scc_id).mod_ids))
                else:
                    self.stale_work.stale(scc_id)
                self.scheduler.classified(scc_id, fresh)

    # -- dispatch ---------------------------------------------------------------

    def dispatch(self) -> None:
        if self.head_start_worker is not None:
            head_start.settle(self)
        if not self.scheduler.has_queued():
            if self.sharing.shared and self.pool is not None:
                # Nothing waits: idle workers may join a shared SCC's bodies.
                for worker in self.pool.live_workers:
                    if worker.task is None and worker.parked_for is None:
                        shared_tasks.join_as_helper(self, self.pool, worker)
            return
        if self.pool is None and not self.stale_work.workers_pay() or self.printer.all_here():
            # A small incremental run, where one process is faster, or one
            # whose answer only this process gives (soft_limit.py).
            self.run_all_here()
            return
        pool = self.ensure_pool()
        replace_lost(self, pool)
        for worker in pool.live_workers:
            if worker.task is not None or worker.parked_for is not None:
                continue
            if self.sharing.shared and shared_tasks.help_ahead_of_queue(self, pool, worker):
                continue
            scc_id = self.pick_task(worker.index)
            if scc_id is None:
                shared_tasks.join_as_helper(self, pool, worker)
                continue
            chosen = self.untainted_worker(scc_id, worker, pool)
            if chosen is None:
                return
            self.send_task(pool, chosen, scc_id)
        if not pool.live_workers:
            self.run_all_here()
            return
        self.send_ahead(pool)

    def send_ahead(self, pool: WorkerPool) -> None:
        """Queue small tasks (a batch, if several fit) behind each busy worker's task that is about to end."""
        if self.send_ahead_seconds <= 0:
            return
        now = time.monotonic()
        for worker in pool.live_workers:
            if not batches.ending_soon(self, worker, now):
                continue
            # With batches, as many as a batch takes; else one task as small as the send-ahead time.
            if self.batch_seconds > 0:
                scc_ids = batches.take_small_tasks(
                    self, worker, self.batch_seconds, max(1, batches.fair_share(self, pool))
                )
            else:
                scc_ids = batches.take_small_tasks(self, worker, self.send_ahead_seconds, 1)
            if not scc_ids:
                return
            batches.send(self, pool, worker, scc_ids)

    def next_task_on(self, worker: WorkerHandle) -> None:
        """The worker's task is over: the first one sent ahead, if any, runs there now."""
        if worker.task is not None:
            worker.holding.discard(worker.task)
        worker.task = worker.queued.popleft() if worker.queued else None
        self.task_began[worker.index] = time.monotonic()

    def run_all_here(self) -> None:
        """Queued SCCs are checked in this process, in the replay's order."""
        while (scc_id := self.scheduler.next_task()) is not None:
            self.local.add(scc_id)
            self.affinity.assign(scc_id, LOCAL)

    def pick_task(self, executor: int) -> int | None:
        """The queued SCC this idle worker runs next (taken out of the queue), or None.

        Without flagged modules, the scheduler's own order; else the first SCC
        whose needs the worker holds, or the one cheapest to complete there.
        """
        if not self.affinity.constrained:
            return self.scheduler.next_task()
        missing = lambda scc_id: self.affinity.missing(scc_id, executor)  # noqa: E731
        picked = choose_task(self.scheduler.queued_in_order(), missing, self.recheck_cost)
        if picked is not None:
            self.scheduler.take(picked[0])
        return None if picked is None else picked[0]

    def to_recheck(self, scc_id: int, worker: WorkerHandle) -> list[int]:
        """What the worker checks again in memory before this SCC; it then holds all of it."""
        recheck = self.affinity.missing(scc_id, worker.index)
        self.affinity.assign(scc_id, worker.index, recheck)
        if recheck:
            modules = [m for dep in recheck for m in sorted(self.plan.scc(dep).mod_ids)]
            self.manager.log(
                f"Worker {worker.index} checks in memory again, before SCC {scc_id}: {' '.join(modules)}"
            )
        return recheck

    def recheck_cost(self, scc_ids: list[int]) -> float:
        return sum(self.scc_costs[scc_id].interface + self.scc_costs[scc_id].implementation for scc_id in scc_ids)

    def untainted_worker(self, scc_id: int, idle: WorkerHandle, pool: WorkerPool) -> WorkerHandle | None:
        """An idle worker that may run the SCC (`idle` unless it helped with it), or None.

        None puts the SCC back in the queue to wait for a busy worker that
        may run it, or hands it to this process if no live worker may.
        """
        allowed = self.sharing.untainted(scc_id, [worker.index for worker in pool.live_workers])
        free = {w.index: w for w in pool.live_workers if w.index in allowed and w.task is None and w.parked_for is None}
        if idle.index in allowed:
            deps = self.plan.scc(scc_id).deps
            return free.get(faults.placed_away(idle.index, list(free), lambda w: self.affinity.held_count(w, deps)), idle)
        if free:
            return next(iter(free.values()))
        if allowed:
            self.scheduler.task_lost(scc_id)
        else:
            self.take_over(scc_id)
        return None

    def send_task(self, pool: WorkerPool, worker: WorkerHandle, scc_id: int) -> None:
        cost = sum(self.scc_costs[scc_id])
        if self.batch_seconds > 0 and cost <= self.batch_seconds and batches.may_join(self, scc_id, worker):
            more = batches.take_small_tasks(self, worker, self.batch_seconds - cost, batches.fair_share(self, pool))
            if more:
                batches.send(self, pool, worker, [scc_id, *more])
                return
        message = self.task_message(worker, scc_id, self.to_recheck(scc_id, worker))
        self.begin_task(worker, scc_id, message.one_piece)
        if not message.one_piece:
            shared_tasks.maybe_share(self, scc_id, worker, message)
        pool.send(worker, message)

    def begin_task(self, worker: WorkerHandle, scc_id: int, one_piece: bool) -> None:
        """The worker's task is this SCC from now on (sent, or adopted from a head start)."""
        worker.task = scc_id
        self.task_sent_at[worker.index] = self.task_began[worker.index] = time.monotonic()
        self.tasks.start(scc_id, "whole" if one_piece else "interface", worker.index)

    def ensure_pool(self) -> WorkerPool:
        from mypy_split import task_messages
        from mypy_split.protocol import encode

        pool = self.start_pool()
        if not self.graph_sent:
            frame = encode(task_messages.graph_message(self.plan, self.manager))
            for worker in pool.workers:
                pool.send_frame(worker, frame)
            self.graph_sent = True
        return pool

    def start_pool(self) -> WorkerPool:
        """The workers, started now if they were not; the graph follows with the first task."""
        from mypy_split.pool import WorkerPool

        if self.pool is None:
            self.pool = WorkerPool(self.worker_count, self.hello(), self.pass_fds)
        return self.pool

    def task_message(self, worker: WorkerHandle, scc_id: int, recheck: list[int]) -> CheckScc:
        """The task for this worker, which is sent it right away."""
        from mypy_split import task_messages

        message = task_messages.task_message(self.plan, self.manager, scc_id, recheck, worker.hashes_sent)
        message.stored_orders = self.stored_orders.unsent(worker.index)
        message.collect_garbage = self.collect_before(scc_id)
        message.results_together = self.scc_costs[scc_id].implementation <= RESULTS_TOGETHER_SECONDS
        return message

    def collect_before(self, scc_id: int) -> bool:
        """Whether the worker collects garbage before this task: not near the build's end (tuning.py)."""
        workers = len(self.pool.live_workers) if self.pool is not None else 1
        left = self.scheduler.unstarted_work() + sum(self.scc_costs[scc_id])
        return left > self.collect_tail_seconds * max(1, workers)

    # -- events ---------------------------------------------------------------

    def wait_for_workers(self) -> None:
        pool = self.ensure_pool()
        in_flight = any(worker.task is not None for worker in pool.live_workers)
        if not in_flight and not self.scheduler.has_queued():
            # Nothing can arrive that would move the replay: a coordinator bug.
            raise AssertionError(f"the replay waits for {self.replay_action} but no work is left")
        self.handle_events(pool)
        self.classify_ready()

    def handle_events(self, pool: WorkerPool, timeout: float | None = None) -> None:
        """Wait for at least one event from the workers (at most `timeout` s), and act on all that came."""
        from mypy_split.pool import Lost

        for event in pool.poll(timeout):
            if isinstance(event, Lost):
                self.on_lost(event.worker, event.cause)
            else:
                self.on_message(event.worker, event.message)

    def on_message(self, worker: WorkerHandle, message: object) -> None:
        from mypy_split.protocol import (
            HEAD_START_SCC,
            PROTOCOL_VERSION,
            HeadStart,
            ImplementationDone,
            InterfaceDone,
            Ready,
            TakeBodies,
            TaskFailed,
        )

        if isinstance(message, HeadStart):
            head_start.on_report(self, worker, message)
            return
        if isinstance(message, (InterfaceDone, ImplementationDone, TaskFailed)) and message.scc_id == HEAD_START_SCC:
            adopted = head_start.renamed_result(self, worker, message)
            if adopted is None:
                return
            message = adopted
        if isinstance(message, Ready):
            now = time.monotonic()
            ready = message.ready_at if worker.started <= message.ready_at <= now else now
            self.observer.worker_spans(worker.index, None, [("start-up", worker.started, ready)])
            if message.error or message.version != PROTOCOL_VERSION:
                # Unusable worker (another protocol, or its setup failed):
                # retire it; its tasks run elsewhere.
                worker.retire()
            return
        if isinstance(message, TakeBodies):
            shared_tasks.hand_bodies(self, worker, message.scc_id)
            return
        helped = self.sharing.task_over(worker.index) if not isinstance(message, InterfaceDone) else None
        if isinstance(message, InterfaceDone):
            self.observer.worker_spans(worker.index, message.scc_id, message.spans)
            # The worker built the whole trees of these modules: no blocker hides there.
            self.gate.built(set(self.plan.scc(message.scc_id).mod_ids))
            self.on_interface(message)
            shared_tasks.reserve_for_forks(self, worker, message.scc_id)
            if self.tasks.end(message.scc_id, True, only="interface"):
                self.tasks.start(message.scc_id, "implementation", worker.index)
        elif isinstance(message, ImplementationDone):
            self.observer.worker_spans(worker.index, message.scc_id, message.spans)
            shared_tasks.unpark(self, worker, message.scc_id, message.forked_spans)
            self.next_task_on(worker)
            if helped is None:
                self.tasks.end(message.scc_id, True)
            self.on_implementation(worker, message, helper=helped is not None)
        elif isinstance(message, TaskFailed):
            if not message.blocker and faults.failed_tasks_fatal():
                raise WorkerCrashed(f"SCC {message.scc_id} failed on worker {worker.index}:\n" + "\n".join(message.lines))
            why = message.lines[-1] if message.lines else "no message"
            self.manager.log(f"Worker {worker.index} failed on SCC {message.scc_id} ({why}): this process checks it")
            shared_tasks.unpark(self, worker, message.scc_id, [])
            worker.task = None
            self.requeue_sent_ahead(worker)
            if helped is None:
                self.tasks.end(message.scc_id, False)
            self.take_over(message.scc_id)
            # After a blocker or a crash the engine's state in that process is
            # suspect (blockers stay recorded): give it no more work.
            worker.retire()
            self.affinity.forget(worker.index)

    def on_implementation(self, worker: WorkerHandle, message: ImplementationDone, helper: bool) -> None:
        scc_id = message.scc_id
        if scc_id in self.local:
            return  # Given up on workers (a part failed): it is checked here, whole.
        shared = self.sharing.shared.get(scc_id)
        if shared is None:
            if not helper:
                self.finish_result(message, message.seconds)
            return  # Help for an SCC since taken back from sharing.
        shared.record(worker.index, message)
        shared_tasks.maybe_finish_shared(self, scc_id)

    def finish_result(self, result: ImplementationDone, implementation_seconds: float) -> None:
        scc_id = result.scc_id
        if confirm.wanted(self, result):
            self.local.add(scc_id)
            self.confirming.add(scc_id)
        else:
            self.results[scc_id] = result
        self.costs.record(
            self.plan.scc(scc_id).mod_ids,
            self.graph,
            self.interface_seconds.get(scc_id, 0.0),
            implementation_seconds,
        )
        self.manager.missing_stub_packages.update(result.missing_stub_packages)
        fine_grained.merge_task_deps(self.manager, result.fine_grained_deps)
        self.scheduler.implementation_done(scc_id)

    def on_interface(self, message: InterfaceDone) -> None:
        self.interface_seconds[message.scc_id] = message.seconds
        self.source_hashes.update(message.source_hashes)
        self.stored_orders.add(message.stored_orders)
        for module_id, new_hash in message.interface_hashes.items():
            state = self.graph[module_id]
            value = bytes.fromhex(new_hash)
            if value != state.interface_hash:
                state.mark_interface_stale()
                state.interface_hash = value
        self.interfaces_reported.add(message.scc_id)
        self.interface_at.setdefault(message.scc_id, time.monotonic())
        self.note_sensitive(message.scc_id, Sensitivity(message.sensitivity))
        self.scheduler.interface_done(message.scc_id)
        if message.scc_id in self.sharing.shared:
            # Helpers may have finished every body before the owner's commit.
            shared_tasks.maybe_finish_shared(self, message.scc_id)

    def requeue_sent_ahead(self, worker: WorkerHandle) -> None:
        """Tasks sent ahead to a worker that will not run them go back to the queue (not their fault)."""
        for scc_id in worker.queued:
            self.tasks.end(scc_id, False)
            self.scheduler.task_lost(scc_id)
        worker.queued.clear()
        worker.holding.clear()

    def on_lost(self, worker: WorkerHandle, cause: str) -> None:
        if worker is self.head_start_worker:
            self.head_start_worker = None
        self.affinity.forget(worker.index)
        if batches.lose(self, worker):
            return
        self.requeue_sent_ahead(worker)
        scc_id = worker.task
        if scc_id is not None:
            shared_tasks.unpark(self, worker, scc_id, [])
        worker.task = None
        helped = self.sharing.task_over(worker.index)
        if scc_id is None or scc_id in self.results or scc_id in self.local:
            return
        if helped is None:
            self.tasks.end(scc_id, False)
        attempts = self.attempts.get(scc_id, 0) + 1
        self.attempts[scc_id] = attempts
        shared = self.sharing.shared.get(scc_id)
        if shared is not None and helped is not None:
            if not shared.holds_work(worker.index):
                # A helper with no bodies in hand: nothing is lost.
                shared.leave(worker.index)
                shared_tasks.maybe_finish_shared(self, scc_id)
                return
            if attempts < MAX_ATTEMPTS:
                # The owner may still be at work; this process takes the SCC
                # over at its place in the order, once the owner is done.
                self.take_over(scc_id)
                return
        if shared is not None and helped is None:
            # The SCC is not shared again, nor given to a former helper.
            self.sharing.unshare(scc_id)
        if scc_id in self.interfaces_reported:
            # Other workers may hold this SCC loaded from the cache by now;
            # checking it again there would mix two versions. Finish it here.
            self.take_over(scc_id)
            return
        if attempts >= MAX_ATTEMPTS:
            modules = ", ".join(sorted(self.plan.scc(scc_id).mod_ids))
            tail = worker.stderr_tail.decode(errors="replace").strip()
            detail = f"\n{tail}" if tail else ""
            raise WorkerCrashed(
                f"a worker (pid {worker.pid}) was lost twice while checking {modules}: {cause}{detail}"
            )
        self.scheduler.task_lost(scc_id)

    def take_over(self, scc_id: int) -> None:
        """This process checks the SCC, at its place in the replay; no worker gets it."""
        self.local.add(scc_id)
        self.affinity.assign(scc_id, LOCAL)
        self.scheduler.withdraw(scc_id)

    # -- replay ---------------------------------------------------------------

    def advance_replay(self) -> bool:
        """Move the replay as far as results allow, printing; True if it moved."""
        moved = False
        while True:
            action = self.replay_action
            if isinstance(action, Classify):
                if not all(scc_id in self.fresh for scc_id in action.scc_ids):
                    return moved
                fresh = [scc_id for scc_id in action.scc_ids if self.fresh[scc_id]]
                stale = [scc_id for scc_id in action.scc_ids if not self.fresh[scc_id]]
                for scc_id in fresh:
                    for module_errors in self.fresh_errors.pop(scc_id):
                        self.show(module_errors)
                self.replay_action = self.replay.classified(fresh, stale)
            elif isinstance(action, RunInterface):
                if action.scc_id in self.local:
                    if self.worker_busy_with(action.scc_id):
                        # A part still runs there and may still write its cache entries.
                        return moved
                    check_in_coordinator(self, action.scc_id)
                elif action.scc_id not in self.results:
                    return moved
                elif self.printer.must_check_here(result := self.results.pop(action.scc_id)):
                    self.local.add(action.scc_id)
                    self.confirming.add(action.scc_id)
                    check_in_coordinator(self, action.scc_id)
                else:
                    self.printer.print_result(result)
                self.replay_action = self.replay.interface_done(action.scc_id)
            elif isinstance(action, RunImplementation):
                self.replay_action = self.replay.implementation_done(action.scc_id)
            else:
                return moved
            moved = True

    def worker_busy_with(self, scc_id: int) -> bool:
        return self.pool is not None and any(worker.task == scc_id for worker in self.pool.live_workers)

    def note_sensitive(self, scc_id: int, sensitivity: Sensitivity) -> None:
        """What importers of a just-checked SCC must see in memory (`sensitive.py`, `affinity.py`)."""
        self.affinity.checked(scc_id, sensitivity)
