"""Whether starting workers pays: the stale work known so far, and what a changed interface foretells.

An incremental run checks its first stale SCCs in the coordinator's own
process and starts workers only once the work known to be stale is worth it
(`tuning.POOL_WORTH_SECONDS`).  SCCs are found stale one classification round
at a time, so without foresight a big change is discovered slowly: the
dependents of an SCC checked here are classified only after its bodies.  But
when an SCC's interface hash changes, every SCC importing it is certain to be
stale (each records the hashes it was checked against), so their work counts
from the moment the interface is known, and workers can start while this
process is still checking those bodies.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from mypy_split.tuning import POOL_WORTH_SECONDS, POOL_WORTH_VARIABLE, seconds_from_environment


class StaleWork:
    def __init__(self, cost_of: Callable[[int], float]) -> None:
        self._cost_of = cost_of
        self._minimum = seconds_from_environment(POOL_WORTH_VARIABLE, POOL_WORTH_SECONDS)
        # Expected seconds of each SCC known (or certain) to need checking.
        self._expected: dict[int, float] = {}

    def stale(self, scc_id: int) -> None:
        """The SCC needs checking: its source changed, or it was classified stale."""
        if scc_id not in self._expected:
            self._expected[scc_id] = self._cost_of(scc_id)

    def interface_known(self, changed: bool, dependents: Iterable[int]) -> None:
        """An SCC's new interface: if it changed, each direct dependent will be stale."""
        if changed:
            for scc_id in dependents:
                self.stale(scc_id)

    def workers_pay(self) -> bool:
        """Whether the stale work known so far is worth starting workers.

        What counts is the work besides the largest SCC: one SCC alone (a
        body edit of a big module, say) gains nothing from another process.
        """
        work = self._expected.values()
        return sum(work) - max(work, default=0.0) >= self._minimum
