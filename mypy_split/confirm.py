"""Worker answers whose wording may not be mypy's: this process checks them again first.

By default a worker may load from the cache a stale dependency whose cached
form changes only the text of some messages about its symbols
(`Sensitivity.MESSAGES`, sensitive.py): the note naming the module where a
generated method or a called function is defined, a signature printed with
or without its `self`, overload variants (README, "Known limits").  Keeping
all of those in memory on every worker (exact mode, affinity.py) costs more
than the parallel run saves on an empty cache, and most answers show none of
these messages: a clean project prints nothing at all.

So a worker's answer for an SCC stands unless both:

- an executor of the task loaded such a dependency from the cache
  (`MemoryAffinity.seen_from_cache`), and
- the answer has a message of a kind that depends on it (`may_differ`);

then this process checks the SCC again at its place in the sequential order,
with those dependencies in memory (`local_check.py`: this process keeps
every sensitive stale dependency in memory), shows that answer, as
`mypy -n 0` would, and puts its errors in the cache entries.  Within a
budget of expected work (`Budget`): on an empty cache, the first such answer
can need most of the standard library checked again here, serially.

A worker also says when its answer prints the signature of a function it
read from the cache without putting back its argument list (workers put them
back as functions are read, stored_order.py): that answer is checked again
here whatever the budget, as this process puts every list back on loading
and needs nothing checked again in memory for it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

from mypy_split.affinity import LOCAL
from mypy_split.tuning import CONFIRM_SECONDS, CONFIRM_SHARE, CONFIRM_VARIABLE, seconds_from_environment

if TYPE_CHECKING:
    from mypy_split.parallel import Coordinator
    from mypy_split.protocol import ErrorRecord, ImplementationDone

# Call errors: the engine follows them with notes that name the callee's
# module ("X" defined in "base") or question its first argument's name, and
# whether it does depends on the callee's form.
_CALL_CODE = "call-arg"
# Texts that the cached form of a dependency can change: a signature spelled
# out (`def f(self, ...)`, overload variants, revealed types), a note naming
# where a callee is defined, and a binding error that only the cached form of
# a static method copied into a class body gives.
_TEXTS = ("def ", " defined in \"", "Invalid self argument")


def may_differ(record: ErrorRecord) -> bool:
    """Whether this message's text can depend on a dependency's form (memory or cache)."""
    return record.code == _CALL_CODE or any(text in record.message for text in _TEXTS)


def answer_may_differ(records: Iterable[ErrorRecord]) -> bool:
    return any(may_differ(record) for record in records)


class Budget:
    """The expected seconds of confirmations a run may spend (`tuning.CONFIRM_SECONDS`)."""

    def __init__(self, seconds: float, share: float) -> None:
        self.seconds = seconds
        self.share = share
        self.spent = 0.0

    @classmethod
    def from_environment(cls, exact: bool) -> Budget:
        """The set budget; in exact mode, unlimited unless set.

        Exact mode keeps every sensitive dependency in memory before a task,
        so it confirms only answers of tasks placed otherwise (a dependency
        judged after the task was placed, a task taken over after a fault).
        """
        default = math.inf if exact else CONFIRM_SECONDS
        return cls(seconds_from_environment(CONFIRM_VARIABLE, default), CONFIRM_SHARE)

    def left(self, stale_work: float) -> float:
        """What is left, given the run's stale work known so far."""
        if self.seconds <= 0:
            return 0.0
        return max(self.seconds, self.share * stale_work) - self.spent

    def take(self, price: float, stale_work: float) -> bool:
        """Spend `price` if it is left."""
        if self.seconds <= 0 or price > self.left(stale_work):
            return False
        self.spent += price
        return True


def wanted(coordinator: Coordinator, result: ImplementationDone) -> bool:
    """Whether this process checks the SCC again instead of showing the worker's answer."""
    c = coordinator
    if result.signatures_unrestored:
        # Not within the budget: the worker's answer may print a signature in the cache's form.
        c.manager.log(
            f"SCC {result.scc_id}: a worker may have printed a signature without its argument list: "
            "this process checks it again"
        )
        return True
    # In this order: what a task saw from the cache is worked out only when asked.
    if not answer_may_differ(record for records in result.errors.values() for record in records):
        return False
    seen = c.affinity.seen_from_cache(result.scc_id)
    if not seen:
        return False
    modules = " ".join(sorted(m for scc_id in seen for m in c.plan.scc(scc_id).mod_ids))
    about = f"SCC {result.scc_id}: messages that can differ, from a worker that loaded {modules} from the cache"
    price = c.recheck_cost([*c.affinity.missing(result.scc_id, LOCAL), result.scc_id])
    if not c.confirm_budget.take(price, c.stale_work.total):
        left = max(0.0, c.confirm_budget.left(c.stale_work.total))
        c.manager.log(f"{about}: shown as found, checking it again here would take {price:.2f} s of {left:.2f} s left")
        return False
    c.manager.log(f"{about}: this process checks it again")
    return True
