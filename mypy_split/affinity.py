"""Where a task may run so that it sees its dependencies as `mypy -n 0` sees them.

`mypy -n 0` checks every stale SCC in one process, so a module sees each
stale dependency in memory, as the checker left it, never as the cache
describes it; for some modules the two differ (`sensitive.py`).  A task may
therefore load from the cache only dependencies that are fresh or not
sensitive: every sensitive stale SCC among its transitive dependencies (its
*needs*) must be in memory in the process that runs it.

How sensitive is sensitive (`kept_in_memory_from`): on workers, by default,
modules with a method that binds differently from the cache
(`Sensitivity.BINDING`: types and errors can differ), which are rare; in
exact mode also those where only the text of messages can differ
(`Sensitivity.MESSAGES`), which on an empty cache is most of the standard
library.  This process (`LOCAL`) always keeps both: a task checked here is
checked exactly, and it never loads a messages-sensitive stale SCC from the
cache, so it can check any of them again for a worker's answer that it
confirms (`confirm.py`).  For that, each placement records the
messages-sensitive needs the executor did not hold (`seen_from_cache`).

`MemoryAffinity` keeps, per executor, the SCCs it holds in memory (those it
checked, or checked again for a task), and answers what a task would miss on
each.  `choose_task` is the placement rule for an idle executor:

1. the first queued task (in priority order) that misses nothing there;
2. otherwise the task whose missing SCCs cost least to check again, which
   the executor then checks in memory, without writing the cache, first.

Waiting for the executor that holds a task's needs would keep the others idle
(everything downstream of one sensitive module would run on one worker), and
a task whose needs are split over several executors could wait forever; an
idle executor that checks again costs no wall time while it is idle.

Pure bookkeeping (besides reading the switch): no processes, no engine; unit-tested.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable, Sequence

from mypy_split.graph import SccNode
from mypy_split.sensitive import Sensitivity

# The coordinator's own process, as an executor.
LOCAL = -1
# "1" (exact mode) keeps every sensitive stale dependency of a task in memory
# where it runs, messages-only ones included: mypy's answer wherever the
# engine's cache and memory forms differ, at the cost of checking such modules
# again in each worker (on an empty cache, nearly the whole standard library).
# Otherwise only the ones that bind differently are kept (README, "Known
# limits").  Workers inherit it.
AFFINITY_VARIABLE = "MYPY_SPLIT_MEMORY_AFFINITY"


def kept_in_memory_from() -> Sensitivity:
    """The least sensitivity that a task must see in memory, in this mode."""
    exact = os.environ.get(AFFINITY_VARIABLE) == "1"
    return Sensitivity.MESSAGES if exact else Sensitivity.BINDING

_NOTHING: frozenset[int] = frozenset()
# The levels a task may need in memory.
_LEVELS = (Sensitivity.MESSAGES, Sensitivity.BINDING)


class MemoryAffinity:
    def __init__(self, nodes: Sequence[SccNode], kept: Sensitivity | None = None) -> None:
        self.kept = kept_in_memory_from() if kept is None else kept
        self._deps = {node.id: node.deps for node in nodes}
        self._position = {node.id: position for position, node in enumerate(nodes)}
        # Per level, the checked SCCs at least that sensitive, and each SCC's needs.
        self._sensitive: dict[Sensitivity, set[int]] = {level: set() for level in _LEVELS}
        self._needs: dict[Sensitivity, dict[int, frozenset[int]]] = {level: {} for level in _LEVELS}
        # Every SCC checked so far (stale in this run), sensitive or not.
        self._checked: set[int] = set()
        # Per executor, the SCCs it holds, in the order it came to hold them.
        self._held: dict[int, dict[int, None]] = {}
        # Per SCC, each placement: the executor's held map and how many of its
        # first entries it held then.  What a placement saw from the cache is
        # worked out only when asked (`seen_from_cache`), which is rare: a set
        # per task, and each task's transitive needs, would cost the
        # coordinator memory on every run (5 MiB on 3,000 small modules).
        self._placements: dict[int, list[tuple[dict[int, None], int]]] = {}

    @property
    def constrained(self) -> bool:
        """Whether a task on a worker can need anything (a sensitive SCC was checked)."""
        return bool(self._sensitive[self.kept])

    def checked(self, scc_id: int, sensitivity: Sensitivity) -> None:
        """An SCC's interface was checked; `sensitivity`: its most sensitive module's.

        Must be told before any dependent is placed (dependents are queued
        only after their dependencies' interfaces are done).
        """
        self._checked.add(scc_id)
        for level in _LEVELS:
            if sensitivity >= level:
                self._sensitive[level].add(scc_id)

    def needs(self, scc_id: int, level: Sensitivity | None = None) -> frozenset[int]:
        """The stale SCCs at least this sensitive (the kept level) among the task's transitive dependencies."""
        level = self.kept if level is None else level
        known = self._needs[level]
        if scc_id in known:
            return known[scc_id]
        # Iterative post-order: import chains can be deeper than Python's stack.
        stack = [scc_id]
        while stack:
            current = stack[-1]
            pending = [dep for dep in self._deps[current] if dep not in known]
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            if current not in known:
                known[current] = self._combine(current, level)
        return known[scc_id]

    def _combine(self, scc_id: int, level: Sensitivity) -> frozenset[int]:
        known = self._needs[level]
        parts = [known[dep] for dep in self._deps[scc_id]]
        own = [dep for dep in self._deps[scc_id] if dep in self._sensitive[level]]
        non_empty = [part for part in parts if part]
        if not own and len(non_empty) <= 1:
            # Share the one dependency's set: chains stay linear in memory.
            return non_empty[0] if non_empty else _NOTHING
        return frozenset(own).union(*non_empty)

    def missing(self, scc_id: int, executor: int) -> list[int]:
        """What the executor must check again before the task, in dependency order."""
        level = Sensitivity.MESSAGES if executor == LOCAL else self.kept
        needs = self.needs(scc_id, level)
        if not needs:
            return []
        held = self._held.get(executor, {})
        return sorted(needs.difference(held), key=self._position.__getitem__)

    def assign(self, scc_id: int, executor: int, rechecked: Iterable[int] = ()) -> None:
        """The executor will hold these in memory (tasks run in the order they are sent)."""
        held = self._held.setdefault(executor, {})
        held.update(dict.fromkeys(rechecked))
        self._placements.setdefault(scc_id, []).append((held, len(held)))
        held[scc_id] = None

    def held_count(self, executor: int, scc_ids: Iterable[int]) -> int:
        """How many of these SCCs the executor holds."""
        held = self._held.get(executor, {})
        return sum(1 for scc_id in set(scc_ids) if scc_id in held)

    def seen_from_cache(self, scc_id: int) -> set[int]:
        """The messages-sensitive needs that some executor placed with the task loads from the cache."""
        needs = self.needs(scc_id, Sensitivity.MESSAGES)
        seen: set[int] = set()
        if not needs:
            return seen
        for held, count in self._placements.get(scc_id, []):
            # An executor's map only grows (a lost one's is replaced, not emptied).
            seen |= needs.difference(itertools.islice(held, count))
        return seen

    def forget(self, executor: int) -> None:
        """The executor's process is gone, and its memory with it."""
        self._held.pop(executor, None)


def choose_task(
    queued: Sequence[int],
    missing: Callable[[int], list[int]],
    cost: Callable[[list[int]], float],
) -> tuple[int, list[int]] | None:
    """The task an idle executor runs next and what it checks again first.

    `queued` is in priority order; see the module doc for the rule.
    """
    best: tuple[float, int, list[int]] | None = None
    for rank, scc_id in enumerate(queued):
        lacking = missing(scc_id)
        if not lacking:
            return scc_id, []
        price = cost(lacking)
        if best is None or (price, rank) < (best[0], best[1]):
            best = (price, rank, lacking)
    if best is None:
        return None
    return queued[best[1]], best[2]
