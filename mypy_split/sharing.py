"""One big SCC's implementation phase, shared among workers: who joins, who checks which bodies.

The owner's task checks the SCC's interface and commits it as usual.  Idle
workers may join as helpers: each repeats the interface phase in memory
(writing nothing), then, like the owner, asks the coordinator for bodies to
check until none are left.  Modules are handed out costliest first, a few at
a time, so late joiners and uneven modules balance themselves.  A helper's
`meta_ex` files are written by the coordinator, after the owner's interface
commit (which removes the old ones), from what the helper sends back.

Function bodies of one SCC are checked independently of each other once the
interface phase is done; the only order that matters is where only-once
notes land, and each participant reports every module's own notes so that
the coordinator keeps the first in mypy's order (see the worker session).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import os
import sys
from collections.abc import Callable, Iterable, Mapping

from mypy.build import BuildManager, Graph

from mypy_split import cpus, phases
from mypy_split.tuning import MEMORY_HEADROOM

if TYPE_CHECKING:
    from mypy_split.entry_counts import EntryCounts
    from mypy_split.protocol import ErrorRecord, ImplementationDone

# Seconds of an SCC's implementation work that must be left for a helper
# beyond the interface it repeats first, or joining does not pay.  Helpers
# are idle workers (nothing else waits), so what sharing costs is mostly CPU
# time that would have gone unused.  Tests set 0: every cycle that meets an
# idle worker is shared.
SHARE_MIN_SECONDS = 0.25
SHARE_MIN_VARIABLE = "MYPY_SPLIT_SHARE_MIN"
# "1" turns forked sharing on (build_worker/forked.py), "0" off.  Unset, it
# is on from 4 workers on a machine with 4 CPUs or more: it saves the
# helpers' repeated interface (CPU, and a copy of the cycle in memory), and
# on 16 CPUs it also saved wall time; on the 2-CPU virtual machine we
# measure on, the copy-on-write faults of two processes cost more wall time
# than it saves (README, "Big import cycles: shared bodies").
FORKED_SHARING_VARIABLE = "MYPY_SPLIT_FORKED_SHARING"
FORKED_SHARING_MIN_WORKERS = 4
# Bodies handed out at a time: enough to make a round trip negligible.
CHUNK_SECONDS = 0.02


def share_min_seconds() -> float:
    try:
        return float(os.environ.get(SHARE_MIN_VARIABLE, SHARE_MIN_SECONDS))
    except ValueError:
        return SHARE_MIN_SECONDS


def forked_sharing(worker_count: int) -> bool:
    """Whether an owner may fork copies of itself to share its bodies (build_worker/forked.py).

    Only on Linux: a forked child needs the kernel to end it with its
    parent, and macOS does not support forking a process that has used
    system libraries.
    """
    if sys.platform != "linux":
        return False
    # The CPUs really there, not tuning.usable_cpus: the tests raise that one to
    # keep their worker counts, and must not turn forked sharing on with it.
    return forked_sharing_wanted(os.environ.get(FORKED_SHARING_VARIABLE), worker_count, cpus.usable_cpus())


def forked_sharing_wanted(setting: str | None, worker_count: int, cpus: int) -> bool:
    """The setting's "1" or "0"; else (unset or unknown) on with many workers on many CPUs."""
    if setting in ("0", "1"):
        return setting == "1"
    return min(worker_count, cpus) >= FORKED_SHARING_MIN_WORKERS


def worth_sharing(implementation_costs: Mapping[str, float], share_min: float) -> bool:
    """Whether an SCC's bodies are enough work for at least two processes."""
    if len(implementation_costs) < 2:
        return False
    return share_min <= 0 or sum(implementation_costs.values()) >= 2 * share_min


def take_chunk(pending: list[str], costs: Mapping[str, float], seconds: float) -> list[str]:
    """Take modules from the front of `pending` until they are worth `seconds` (or none are left)."""
    chunk: list[str] = []
    worth = 0.0
    while pending and (not chunk or worth < seconds):
        module_id = pending.pop(0)
        chunk.append(module_id)
        worth += costs.get(module_id, 0.0)
    return chunk


class SharedScc:
    """The state of one shared SCC on the coordinator's side."""

    def __init__(
        self,
        scc_id: int,
        owner: int,
        costs: dict[str, float],
        interface_cost: float,
        pending: list[str],
        started: float = 0.0,
        forkable: bool = False,
        copy_bytes: int = 0,
    ) -> None:
        self.scc_id = scc_id
        self.owner = owner
        self.costs = costs
        self.interface_cost = interface_cost
        # Not handed out yet, costliest first.
        self.pending = pending
        # When the owner's task was sent (time.monotonic()).
        self.started = started
        self.helpers: set[int] = set()
        # Handed out and not yet reported, by worker.
        self.handed: dict[int, list[str]] = {}
        self.results: dict[int, ImplementationDone] = {}
        # Participants whose task is over.
        self.finished: set[int] = set()
        # Participants that were handed no bodies, which ends their task.
        self.stopped: set[int] = set()
        # The owner may fork copies of itself for the bodies, once it asks for them.
        self.forkable = forkable
        # Expected memory of one more process holding the SCC (0: not known, not limited).
        self.copy_bytes = copy_bytes
        # Copies of the owner forked for the bodies; they end with the owner's task.
        self.forks = 0

    @classmethod
    def start(
        cls,
        scc_id: int,
        owner: int,
        costs: dict[str, float],
        interface_cost: float,
        started: float = 0.0,
        forkable: bool = False,
        copy_bytes: int = 0,
    ) -> SharedScc:
        order = {module_id: index for index, module_id in enumerate(costs)}
        pending = sorted(costs, key=lambda m: (-costs[m], order[m]))
        return cls(scc_id, owner, costs, interface_cost, pending, started, forkable, copy_bytes)

    def left(self) -> float:
        """Expected seconds of the bodies not handed out yet."""
        return sum(self.costs[module_id] for module_id in self.pending)

    def may_join(self, worker: int, running_for: float, share_min: float, others_path: float) -> bool:
        """Whether a worker that starts helping now would shorten the build.

        A helper is ready after repeating the interface; by then the owner
        (`running_for` seconds into its task) has drained what it could:
        nothing while it was still in its own interface phase.  What is left
        is shared by the participants still at work.  Joining pays when each
        share stays worth `share_min`, and when these bodies, as shared now,
        would outlast `others_path`, the longest chain of the rest of the
        build (else they are not what the build waits for).  A worker that
        took part once holds the SCC in memory and cannot repeat it.
        """
        if not self.takes_helper(worker):
            return False
        return share_min <= 0 or self.outlasts(running_for, share_min, others_path)

    def may_join_ahead(self, worker: int, running_for: float, share_min: float, rest: float) -> bool:
        """Whether a worker joins now rather than take queued work: `may_join` against `rest`.

        `rest` is how long the other workers stay busy with everything else
        without this one; only bodies that outlast it are the build's tail.
        Forced sharing (tests) does not waive this: queued work waits.
        """
        return self.takes_helper(worker) and self.outlasts(running_for, max(share_min, 0.0), rest)

    def takes_helper(self, worker: int) -> bool:
        if worker == self.owner or worker in self.helpers or not self.pending:
            return False
        # With forked sharing, idle workers lend the owner their CPUs instead, at its next ask for bodies.
        return not self.forkable

    def outlasts(self, running_for: float, share_min: float, others_path: float) -> bool:
        """Whether one more participant keeps shares worth `share_min`, and the bodies outlast `others_path` now."""
        drained = min(self.interface_cost, max(0.0, running_for))
        left = self.left() - drained
        active = 1 + len(self.helpers - self.finished)
        return left / (active + 1) >= share_min and left / active > others_path

    def may_fork_ahead(self, waiting: int, share_min: float, rest: float) -> bool:
        """Whether one more worker waits for a copy of the owner rather than take queued work.

        `waiting` workers wait already; the owner and its copies would share
        the bodies left, each share worth `share_min` and one module at
        least, while they outlast `rest` (the rest of the build's work on
        the other workers) as shared now.
        """
        if not self.forkable or self.owner in self.finished:
            return False
        participants = 2 + waiting
        left = self.left()
        return len(self.pending) >= participants and left / participants >= share_min and left / (1 + waiting) > rest

    def forks_for(self, worker: int, idle: int, share_min: float) -> int:
        """How many copies of the owner, asking for bodies now, share those left (0: none).

        Each idle worker lends one child its CPU while every share stays worth
        `share_min`; with sharing forced (0) every module may have its own.
        """
        if not self.forkable or worker != self.owner or idle <= 0:
            return 0
        most = len(self.pending) - 1
        if share_min > 0:
            most = min(most, int(self.left() / share_min) - 1)
        return max(0, min(idle, most))

    def reserve(self, idle: int, share_min: float, others_path: float) -> int:
        """How many idle workers wait for the owner's copies, at its interface commit (0: none).

        Only while the bodies, shared that way, still take longer than
        `others_path`, the longest critical path of the SCCs not started:
        those (the SCC's dependents, just queued) then wait for a worker.
        """
        forks = self.forks_for(self.owner, idle, share_min)
        if forks and self.left() / (forks + 1) > others_path:
            return forks
        return 0

    def copies_held(self) -> int:
        """Processes besides the owner holding the SCC now: helpers at work, and its forked copies."""
        forks = 0 if self.owner in self.finished else self.forks
        return len(self.helpers - self.finished) + forks

    def hand_all(self, worker: int, forks: int = 0) -> list[str]:
        """Every body not handed out yet, to one participant (the owner, with `forks` copies of itself)."""
        self.forks += forks
        chunk, self.pending = self.pending, []
        self.handed.setdefault(worker, []).extend(chunk)
        return chunk

    def join(self, worker: int) -> None:
        self.helpers.add(worker)

    def take(self, worker: int, queued_path: float | None, chunk_seconds: float = CHUNK_SECONDS) -> list[str]:
        """The next bodies for a worker; none ends its task.

        A helper yields (gets none) when a queued SCC's critical path
        (`queued_path`) is at least the bodies left: it joined only because
        nothing else was there, and the owner still drains the rest.  Once
        the owner has stopped (with bodies kept back for helpers, below),
        helpers take what is left: else nobody would, and the coordinator
        would check the whole SCC again.
        """
        chunk = self._next_chunk(worker, queued_path, chunk_seconds)
        if not chunk:
            self.stopped.add(worker)
        return chunk

    def _next_chunk(self, worker: int, queued_path: float | None, chunk_seconds: float) -> list[str]:
        handed = self.handed.setdefault(worker, [])
        owner_drains = self.owner not in self.stopped and self.owner not in self.finished
        if worker in self.helpers and owner_drains and queued_path is not None and queued_path >= self.left():
            return []
        if chunk_seconds <= 0 and len(self.pending) <= len(self.still_in_interface(worker)):
            # Forced sharing (tests): one module at a time, and one kept back for
            # each helper still in its interface, so that every participant
            # checks some bodies whatever the timing.
            return []
        chunk = take_chunk(self.pending, self.costs, chunk_seconds)
        handed.extend(chunk)
        return chunk

    def still_in_interface(self, besides: int) -> list[int]:
        """Helpers that have not asked for bodies yet (and are not gone)."""
        return [h for h in self.helpers if h != besides and h not in self.handed and h not in self.finished]

    def record(self, worker: int, result: ImplementationDone) -> None:
        self.leave(worker)
        added = result.entries is not None and bool(result.entries.slots)
        if result.errors or result.indirect or added or worker == self.owner:
            self.results[worker] = result

    def leave(self, worker: int) -> None:
        """The worker's task is over (finished, or the worker is gone)."""
        self.handed.pop(worker, None)
        self.finished.add(worker)

    def stalled(self) -> bool:
        """Bodies are left but no participant will ask for them any more."""
        return bool(self.pending) and {self.owner, *self.helpers} <= self.finished

    def holds_work(self, worker: int) -> bool:
        """Whether losing this worker loses bodies it was handed."""
        return bool(self.handed.get(worker))

    def done(self, interface_committed: bool) -> bool:
        """Every body checked and reported, after the owner's commit, and the owner's task over.

        The owner's result comes last or not at all before this: taken as
        the SCC's result, it would stand for every module of it.
        """
        return (
            interface_committed
            and self.owner in self.finished
            and not self.pending
            and not any(self.handed.values())
        )


class SharingDesk:
    """The coordinator's book of shared SCCs: which are shared, who helps with which, who may not retry them.

    It decides; the coordinator builds and sends the messages.
    """

    def __init__(
        self,
        share_min: float,
        forking: bool = False,
        memory_left: Callable[[], int | None] = lambda: None,
        log: Callable[[str], None] = lambda line: None,
    ) -> None:
        self.share_min = share_min
        # Owners may fork copies of themselves for the bodies (build_worker/forked.py).
        self.forking = forking
        # Bytes the run may still take, asked before another process holds a shared SCC.
        self.memory_left = memory_left
        self.log = log
        # SCCs that memory kept from being held by as many processes as would pay (logged once).
        self.short_of_memory: set[int] = set()
        self.shared: dict[int, SharedScc] = {}
        # Helper tasks in flight: worker index -> SCC.
        self.helping: dict[int, int] = {}
        # A retried SCC must not go to a worker that holds it from helping.
        self.tainted: dict[int, set[int]] = {}

    def offer(
        self, scc_id: int, owner: int, bodies: dict[str, float], interface: float, now: float, copy_bytes: int = 0
    ) -> bool:
        """Share the SCC whose task `owner` starts now, if its bodies are worth it; True if shared.

        `copy_bytes` is the expected memory of each more process holding it.
        """
        if scc_id in self.tainted or not worth_sharing(bodies, self.share_min):
            return False
        self.shared[scc_id] = SharedScc.start(scc_id, owner, bodies, interface, now, self.forking, copy_bytes)
        return True

    def copies_in_memory(self, shared: SharedScc, wanted: int) -> int:
        """How many of `wanted` more processes may hold the SCC in the memory left (tuning.MEMORY_HEADROOM)."""
        if wanted <= 0 or shared.copy_bytes <= 0:
            return max(0, wanted)
        left = self.memory_left()
        if left is None:
            return wanted
        # Copies let in earlier may not have grown yet (a helper's does over its
        # interface phase): what they will take is not left, whatever the machine says.
        left = max(0, left - sum(other.copy_bytes * other.copies_held() for other in self.shared.values()))
        room = int(left // (shared.copy_bytes * MEMORY_HEADROOM))
        if room < wanted and shared.scc_id not in self.short_of_memory:
            self.short_of_memory.add(shared.scc_id)
            self.log(
                f"SCC {shared.scc_id}: {room} of {wanted} more processes may hold it: about "
                f"{shared.copy_bytes >> 20} MiB each, {left >> 20} MiB of memory left"
            )
        return min(room, wanted)

    def helper_task(
        self,
        worker: int,
        now: float,
        may_help: Callable[[int], bool],
        others_path: Callable[[int], float],
        ahead: bool = False,
    ) -> int | None:
        """The shared SCC an idle worker joins now (recorded as joined), or None.

        `may_help` rules out SCCs the worker must not touch; `others_path`
        is the longest unstarted chain of the rest of the build, or, joining
        `ahead` of queued work, how long the other workers stay busy without
        this one (`SharedScc.may_join_ahead`).
        """
        for scc_id, shared in self.shared.items():
            # Cheap refusals first: `others_path` walks the whole plan.
            if not shared.takes_helper(worker) or not may_help(scc_id):
                continue
            may_join = shared.may_join_ahead if ahead else shared.may_join
            if not may_join(worker, now - shared.started, self.share_min, others_path(scc_id)):
                continue
            if not self.copies_in_memory(shared, 1):
                continue
            shared.join(worker)
            self.helping[worker] = scc_id
            return scc_id
        return None

    def chunk(self, worker: int, scc_id: int, queued_path: float | None) -> list[str]:
        """The bodies a participant checks next; none ends its task (also for an SCC taken back)."""
        shared = self.shared.get(scc_id)
        if shared is None:
            return []
        # With sharing forced (tests), one module at a time, so that every
        # participant gets some.
        chunk_seconds = CHUNK_SECONDS if self.share_min > 0 else 0.0
        return shared.take(worker, queued_path, chunk_seconds)

    def task_over(self, worker: int) -> int | None:
        """The worker's task ended; the SCC it helped with, if it was a helper."""
        return self.helping.pop(worker, None)

    def untainted(self, scc_id: int, workers: Iterable[int]) -> list[int]:
        """Those of `workers` that may run the SCC: all but its former helpers."""
        tainted = self.tainted.get(scc_id, set())
        return [worker for worker in workers if worker not in tainted]

    def unshare(self, scc_id: int) -> None:
        """The owner is lost: the helpers' work is dropped, and they may not retry the SCC."""
        shared = self.shared.pop(scc_id)
        self.tainted[scc_id] = set(shared.helpers)


def merge(
    shared: SharedScc, order: list[str], source_hashes: dict[str, str], graph: Graph, manager: BuildManager
) -> ImplementationDone:
    """One result for the whole SCC, modules in check order; the helpers' `meta_ex` written.

    `source_hashes`: the owner's, by module (the meta each `meta_ex` goes beside is the owner's).
    """
    from mypy_split.protocol import ImplementationDone

    errors: dict[str, list[ErrorRecord]] = {}
    missing: set[str] = set()
    for worker, result in shared.results.items():
        errors.update(result.errors)
        missing.update(result.missing_stub_packages)
        if worker == shared.owner:
            continue
        for module_id, indirect in result.indirect.items():
            records = result.errors.get(module_id, [])
            tuples = [record.engine_tuple() for record in records]
            phases.write_meta_ex(module_id, indirect, tuples, source_hashes.get(module_id), graph, manager)
    counted = [result.entries for result in shared.results.values() if result.entries is not None]
    return ImplementationDone(
        shared.scc_id,
        {module_id: errors[module_id] for module_id in order if module_id in errors},
        sorted(missing),
        sum(result.seconds for result in shared.results.values()),
        entries=merged_entries(counted) if counted else None,
        signatures_unrestored=any(result.signatures_unrestored for result in shared.results.values()),
    )


def merged_entries(parts: list[EntryCounts]) -> EntryCounts:
    # Imported only by runs with `--soft-error-limit`.
    from mypy_split.entry_counts import EntryCounts

    return EntryCounts.merged(parts)
