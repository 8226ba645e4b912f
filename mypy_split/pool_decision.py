"""Whether starting workers pays: the stale work known so far, and what foretells more.

An incremental run checks its first stale SCCs in the coordinator's own
process and starts workers only once the work known to be stale is worth it
(`tuning.POOL_WORTH_SECONDS`).  Two things make that work known earlier than
classification does:

- While the graph loads, every module the engine parses had no usable cache
  entry, so it will be checked: once those are worth it, the workers start
  up during the rest of the load (`StartWhileLoading`).
- When an SCC checked here gets a new interface hash, every SCC importing it
  is certain to be stale (each records the hashes it was checked against),
  so their work counts at once, and workers can start while this process
  is still checking the SCC's bodies (`StaleWork.interface_known`).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import TYPE_CHECKING, Generic, TypeVar

from mypy_split.costs import DEFAULT_RATE
from mypy_split.schedule import PhaseCost
from mypy_split.tuning import POOL_WORTH_SECONDS, POOL_WORTH_VARIABLE, seconds_from_environment

if TYPE_CHECKING:
    from mypy_split.pool import WorkerPool

Key = TypeVar("Key", bound=Hashable)


class StaleWork(Generic[Key]):
    """Expected seconds of the SCCs (or modules) known to need checking."""

    def __init__(self, cost_of: Callable[[Key], float], shareable_of: Callable[[Key], float] | None = None) -> None:
        self._cost_of = cost_of
        # Seconds of one piece that other processes could take off it (a big
        # cycle's bodies, shared among workers).
        self._shareable_of = shareable_of
        self._minimum = seconds_from_environment(POOL_WORTH_VARIABLE, POOL_WORTH_SECONDS)
        self._known: set[Key] = set()
        # Kept as they grow: the load asks after every parsed module.
        self._total = 0.0
        self._largest_serial = 0.0

    def stale(self, key: Key) -> None:
        """It needs checking: its source changed, it was classified stale, or it was parsed."""
        if key in self._known:
            return
        self._known.add(key)
        cost = self._cost_of(key)
        shareable = min(cost, self._shareable_of(key)) if self._shareable_of is not None else 0.0
        self._total += cost
        self._largest_serial = max(self._largest_serial, cost - shareable)

    def interface_known(self, changed: bool, dependents: Iterable[Key]) -> None:
        """An SCC's new interface: if it changed, each direct dependent will be stale."""
        if changed:
            for key in dependents:
                self.stale(key)

    @property
    def total(self) -> float:
        return self._total

    def workers_pay(self) -> bool:
        """Whether the stale work known so far is worth starting workers.

        What counts is the work other processes could take: all but the
        largest part that must stay in one process.  One SCC alone (a body
        edit of a big module, say) gains nothing from another process,
        unless its bodies can be shared: then the helpers' part counts.
        """
        return self._total - self._largest_serial >= self._minimum


class StartWhileLoading:
    """Starts the workers from inside the graph load, once the parsed modules are worth it.

    Modules are priced as they will be later: their recorded phase seconds,
    else their size at the default rate (the measured rate needs the graph).
    """

    def __init__(
        self,
        start: Callable[[], WorkerPool],
        recorded: Mapping[str, PhaseCost],
        source_size: Callable[[str | None], int],
    ) -> None:
        self._start = start
        self._recorded = recorded
        self._source_size = source_size
        self._paths: dict[str, str | None] = {}
        self._work: StaleWork[str] = StaleWork(self._cost)
        self.pool: WorkerPool | None = None

    def _cost(self, module_id: str) -> float:
        known = self._recorded.get(module_id)
        if known is not None:
            return known.interface + known.implementation
        return self._source_size(self._paths.get(module_id)) * DEFAULT_RATE

    def parsed(self, module_id: str, path: str | None) -> None:
        if self.pool is not None:
            return
        self._paths[module_id] = path
        self._work.stale(module_id)
        if self._work.workers_pay():
            self.pool = self._start()

    def take_pool(self) -> WorkerPool | None:
        pool, self.pool = self.pool, None
        return pool
