"""Workers' results shown at their place in mypy's order, each only-once note kept once.

A worker filters only-once notes within its own task exactly as mypy would;
across tasks the coordinator keeps the first in sequential order, drops the
later copies, and rewrites those modules' cached errors to match, so the next
run prints what `mypy -n 0` would.  With `--soft-error-limit`, the answer is
shown in the form the limit gives it at that place (soft_limit.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from mypy.build import BuildManager, Graph
from mypy.cache import ErrorTuple

from mypy_split import phases
from mypy_split.soft_limit import Placement, SoftLimit

if TYPE_CHECKING:
    from mypy_split.protocol import ErrorRecord, ImplementationDone


class ResultPrinter:
    def __init__(
        self,
        graph: Graph,
        manager: BuildManager,
        show: phases.ShowErrors,
        source_hashes: dict[str, str],
        order_in_scc: Callable[[int], list[str]] | None = None,
    ) -> None:
        self.graph = graph
        self.manager = manager
        self.show = show
        # The hash of the source each worker checked, by module (kept by the coordinator).
        self.source_hashes = source_hashes
        # Only-once messages shown so far, in the replay's order.
        self.seen_once: set[str] = set(manager.errors.only_once_messages)
        self.soft_limit = SoftLimit.of(manager)
        # An SCC's modules in mypy's order, and where the soft limit leaves each answer to show.
        self.order_in_scc = order_in_scc
        self.placements: dict[int, Placement] = {}

    def all_here(self) -> bool:
        """Whether the soft error limit hid errors while the graph loaded: no worker shows them so."""
        return self.soft_limit is not None and self.soft_limit.hiding_from_load

    def must_check_here(self, result: ImplementationDone) -> bool:
        """Whether the form the soft error limit gives this answer is one the worker did not send (soft_limit.py).

        Then this process checks the SCC again, at its place; otherwise the
        form is kept for `print_result`.
        """
        soft_limit, counts = self.soft_limit, result.entries
        if soft_limit is None:
            return False
        order = self.order_in_scc
        placement = None if counts is None or order is None else soft_limit.place(
            counts, self.seen_once, lambda: order(result.scc_id)
        )
        if placement is not None:
            self.placements[result.scc_id] = placement
            return False
        self.manager.log(f"SCC {result.scc_id}: the soft error limit needs a form the worker did not send: checked here")
        return True

    def print_result(self, result: ImplementationDone) -> None:
        if result.reports is not None and self.manager.reports is not None:
            # Here, at the task's place in mypy's order, as if checked now.
            from mypy_split.reports import merge_task

            merge_task(self.manager.reports, result.reports)
        placement = self.placements.pop(result.scc_id, None)
        forms = {} if placement is None else placement.forms
        for module_id, found in result.errors.items():
            records = forms.get(module_id, found)
            kept = self.place_only_once(records)
            if records is not found or len(kept) != len(found):
                phases.rewrite_cached_errors(
                    module_id, [r.engine_tuple() for r in kept], self.source_hashes.get(module_id), self.graph, self.manager
                )
            xpath = self.graph[module_id].xpath
            tuples = [record.engine_tuple() for record in kept]
            lines = self.formatted(xpath, tuples)
            self.show(phases.ModuleErrors(self.manager.errors.simplify_path(xpath), lines, tuples))
        if placement is not None and self.soft_limit is not None:
            self.soft_limit.adopt(placement)
            # As in mypy, also those hidden or not shown: each counts as given.
            self.seen_once.update(placement.once)

    def formatted(self, xpath: str, tuples: list[ErrorTuple]) -> list[str]:
        """The module's lines as mypy formats them; the file marked as flushed either way."""
        errors = self.manager.errors
        if not tuples:
            # With `pretty`, formatting reads the source even for no errors:
            # a read of every checked file in the coordinator, for nothing.
            errors.flushed_files.add(xpath)
            return []
        return errors.format_messages(xpath, tuples, formatter=self.manager.error_formatter)

    def place_only_once(self, records: list[ErrorRecord]) -> list[ErrorRecord]:
        kept = []
        for record in records:
            if record.only_once:
                if record.message in self.seen_once:
                    continue
                self.seen_once.add(record.message)
            kept.append(record)
        return kept

    def before_checking_here(self) -> None:
        """This process checks next: its engine must know the notes shown so far."""
        self.manager.errors.only_once_messages.update(self.seen_once)

    def after_checking_here(self) -> None:
        self.seen_once.update(self.manager.errors.only_once_messages)
