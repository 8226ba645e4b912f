"""`--soft-error-limit` with workers: mypy's count of error entries, kept in mypy's order.

mypy hides an error or note, and gives an only-once note saying so at the
first, once an import error has been recorded and its error map holds the
limit's number of entries (entry_counts.py says what counts).  Workers check
with the limit off and report, per task, what they added; the coordinator
shows tasks in mypy's order, so it keeps the count as one process would,
starting from what the graph load left in its own map.  For a worker's answer:

- if no entry of it can be hidden (no import error before it nor in it, or
  the count stays under the limit up to its last entry), it is shown as found;
- if hiding began before it, each entry the limit would hide is hidden: the
  worker's hidden form of the modules concerned, written to their `meta_ex`
  too, as mypy caches what it shows;
- else hiding may begin within it, where the order of its entries decides
  which are hidden and where the note goes: this process checks the SCC
  again at its place (confirm.py's way), with the engine set to the count so
  far.  That happens until the note has been given: once per run, or a few
  times.

Each check in this process runs under `checking_here`, so the count follows
it too.  A limit so low that hiding began while the graph loaded makes
every SCC checked here: workers replay the import errors of their modules
as the load recorded them, hidden ones included.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from mypy.errors import Errors

if TYPE_CHECKING:
    from mypy.build import BuildManager

    from mypy_split.entry_counts import EntryCounts


class Form(enum.Enum):
    SHOWN = "shown"
    HIDDEN = "hidden"
    CHECK_HERE = "check here"


class SoftLimit:
    def __init__(self, limit: int, count: int, seen_import_error: bool, hiding: bool) -> None:
        self.limit = limit
        # Entries in the error map of one process that had checked everything replayed so far.
        self.count = count
        self.seen_import_error = seen_import_error
        # Whether an entry was hidden already (and the note given).
        self.hiding = hiding
        self.hiding_from_load = hiding

    @classmethod
    def of(cls, manager: BuildManager) -> SoftLimit | None:
        """The limit's state after the graph load, or None without a limit."""
        errors = manager.errors
        limit = errors.options.many_errors_threshold
        if limit < 0:
            return None
        return cls(limit, entry_total(errors), errors.seen_import_error, any_hidden(errors))

    def form(self, counts: EntryCounts | None, seen_once: set[str]) -> Form:
        """How a task's answer is shown next, given only-once notes shown before it."""
        if counts is None:
            # Not counted (not from a worker of this version): only a check here knows.
            return Form.CHECK_HERE
        if not counts.hideable:
            return Form.SHOWN
        if self.hiding:
            return Form.HIDDEN
        if not (self.seen_import_error or counts.imports):
            return Form.SHOWN
        # The most entries any of its own can find before it.
        if self.count + self.added(counts, seen_once) - 1 < self.limit:
            return Form.SHOWN
        return Form.CHECK_HERE

    @staticmethod
    def added(counts: EntryCounts, seen_once: set[str]) -> int:
        """What one process adds: not an only-once note it has given already."""
        given = set(seen_once)
        repeated = 0
        for message in counts.once:
            if message in given:
                repeated += 1
            given.add(message)
        return counts.entries - repeated

    def account(self, counts: EntryCounts, seen_once: set[str]) -> None:
        """A worker's answer is shown: its entries join the count (call before `seen_once` grows)."""
        self.count += self.added(counts, seen_once)
        self.seen_import_error = self.seen_import_error or counts.imports

    @contextmanager
    def checking_here(self, errors: Errors) -> Iterator[None]:
        """A check in this process, with the engine's limit set to what is left of it."""
        before = entry_total(errors)
        options = errors.options
        # The engine compares its whole map with the limit: what this process holds plus what is left.
        options.many_errors_threshold = max(0, self.limit - self.count + before)
        errors.seen_import_error = self.seen_import_error
        try:
            yield
        finally:
            options.many_errors_threshold = self.limit
            self.count += entry_total(errors) - before
            self.seen_import_error = errors.seen_import_error
            self.hiding = self.hiding or any_hidden(errors)


def entry_total(errors: Errors) -> int:
    return sum(len(infos) for infos in errors.error_info_map.values())


def any_hidden(errors: Errors) -> bool:
    return any(info.hidden for infos in errors.error_info_map.values() for info in infos)
