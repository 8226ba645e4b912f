"""`--soft-error-limit` with workers: mypy's count of error entries, kept in mypy's order.

mypy hides an error or note, and gives an only-once note saying so at the
first, once an import error has been recorded and its error map holds the
limit's number of entries (entry_counts.py says what counts).  Workers check
with the limit off and report, per task, the entries they added in order;
the coordinator shows tasks in mypy's order, so it replays the count as one
process would, from what the graph load left in its own map (`place`):
which entries of each module are hidden, from which on, and where the note
goes.  The worker sent each module's errors for each such split (a module's
hideable entries are hidden from one of them on); the coordinator picks, and
writes the form shown to the module's `meta_ex` too, as mypy caches what it
shows.  Where the form needed was not sent (a module with too many entries
the limit would hide, or a shared SCC's module with entries in another
module's file), this process checks the SCC again at its place, as a
confirmation (confirm.py), with the engine set to the count so far.

Each check in this process runs under `checking_here`, so the count follows
it too.  A limit so low that hiding began while the graph loaded makes
every SCC checked here: workers replay the import errors of their modules
as the load recorded them, hidden ones shown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mypy.errors import ErrorInfo, Errors

from mypy_split.entry_counts import TASK

if TYPE_CHECKING:
    from mypy.build import BuildManager

    from mypy_split.entry_counts import Entry, EntryCounts
    from mypy_split.protocol import ErrorRecord


@dataclass
class Placement:
    """A worker's answer at its place: the forms its modules take, and the count after it."""

    # Per module whose shown form is not the worker's plain one.
    forms: dict[str, list[ErrorRecord]]
    count: int
    seen_import_error: bool
    hiding: bool
    # Only-once messages given so far, with the task's.
    once: set[str] = field(default_factory=set)


class SoftLimit:
    def __init__(self, limit: int, count: int, seen_import_error: bool, hiding: bool, note: str) -> None:
        self.limit = limit
        # Entries in the error map of one process that had checked everything replayed so far.
        self.count = count
        self.seen_import_error = seen_import_error
        # Whether an entry was hidden already (and the note given).
        self.hiding = hiding
        self.hiding_from_load = hiding
        # The note's message, as the engine words it.
        self.note = note

    @classmethod
    def of(cls, manager: BuildManager) -> SoftLimit | None:
        """The limit's state after the graph load, or None without a limit."""
        errors = manager.errors
        limit = errors.options.many_errors_threshold
        if limit < 0:
            return None
        return cls(limit, entry_total(errors), errors.seen_import_error, any_hidden(errors), hiding_note(errors))

    def place(self, counts: EntryCounts, seen_once: set[str], order: Callable[[], list[str]]) -> Placement | None:
        """Where the limit leaves a worker's answer, given the only-once notes shown before it; None: check here."""
        if len(counts.slots) > 1 and not bodies_in_own_files(counts):
            return None
        entries = counts.sequence(order()) if len(counts.slots) > 1 else [e for _, es in counts.slots for e in es]
        placement = Placement({}, self.count, self.seen_import_error, self.hiding, set(seen_once))
        first_hidden = self.first_hidden(entries, placement)
        for module, (first, note) in first_hidden.items():
            if not module:
                if note:
                    return None  # The note would go to a file not shown with the SCC.
                continue
            form = counts.hidden_form.get(module) if first == 0 and not note else None
            if form is None:
                form = counts.split_forms.get(module, {}).get((first, note))
            if form is None:
                return None
            placement.forms[module] = form
        return placement

    def first_hidden(self, entries: list[Entry], placement: Placement) -> dict[str, tuple[int, bool]]:
        """Per module, the first of its hideable entries hidden and whether the note is there; counts on."""
        p = placement
        position: dict[str, int] = {}
        first_hidden: dict[str, tuple[int, bool]] = {}
        for entry in entries:
            index = position.get(entry.module, 0)
            if entry.hideable:
                position[entry.module] = index + 1
            if entry.once is not None:
                if entry.once in p.once:
                    continue  # Given before: one process does not add it again.
                p.once.add(entry.once)
            if entry.hideable and p.seen_import_error and p.count >= self.limit:
                note = not p.hiding
                first_hidden.setdefault(entry.module, (index, note))
                if note:
                    p.hiding = True
                    p.once.add(self.note)
                    p.count += 1
            p.count += 1
            p.seen_import_error = p.seen_import_error or entry.imports
        return first_hidden

    def adopt(self, placement: Placement) -> None:
        self.count = placement.count
        self.seen_import_error = placement.seen_import_error
        self.hiding = placement.hiding

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


def bodies_in_own_files(counts: EntryCounts) -> bool:
    """Whether each module's bodies added entries only to its own file (or outside the SCC).

    A module's forms come from the process that checked its bodies, which
    holds no entry another process added to its file.
    """
    return all(entry.module in (slot, "") for slot, entries in counts.slots if slot != TASK for entry in entries)


def entry_total(errors: Errors) -> int:
    return sum(len(infos) for infos in errors.error_info_map.values())


def any_hidden(errors: Errors) -> bool:
    return any(info.hidden for infos in errors.error_info_map.values() for info in infos)


def hiding_note(errors: Errors) -> str:
    """The only-once note the engine gives at the first entry it hides, asked of a scratch copy."""
    scratch = Errors(errors.options)
    probe = ErrorInfo(
        import_ctx=[], local_ctx=(None, None), line=1, column=0, end_line=1, end_column=0, severity="error",
        message="", code=None, blocker=False, only_once=False, module=None, target=None,
    )
    scratch.report_hidden_errors("", probe)
    (message,) = scratch.only_once_messages
    return message
