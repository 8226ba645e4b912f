"""Where mypy puts each file among those with errors, for errors found after the graph loaded.

A blocking error lists the errors of every file not shown yet, files in the
order in which each got its first error (the engine's `error_info_map`).  A
coordinator that parsed files with imports only (raw_trees.py) reports the
errors only a whole tree shows later than mypy, which reports them while
loading the graph; a file whose first error is one of those would come last.

So the load is watched: every error reported (by file), and every parse
batch the engine finishes (the engine registers a batch's modules, in order,
right after building their trees).  A batch's trees are built after the
errors of the modules processed before it and in the batch's order, so the
moment a module's whole tree would have been built is known, and a file that
gets its first error late is moved to the place it would have had.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from mypy.build import BuildManager
from mypy.errors import ErrorInfo, ErrorWatcher
from mypy.nodes import MypyFile

# An event's place in the load: (index, then the order within a batch).
Rank = tuple[float, int]
# A module parsed during the load, with its file.
ParsedCallback = Callable[[str, "str | None"], None]


class _RecordingModules(dict[str, MypyFile]):
    """The engine's module dict during the load, noting each module as it is registered."""

    def __init__(
        self, modules: dict[str, MypyFile], events: list[tuple[str, str]], on_parsed: ParsedCallback | None
    ) -> None:
        super().__init__(modules)
        self.events = events
        self.on_parsed = on_parsed

    def __setitem__(self, module_id: str, tree: MypyFile) -> None:
        self.events.append(("parsed", module_id))
        super().__setitem__(module_id, tree)
        if self.on_parsed is not None:
            self.on_parsed(module_id, tree.path)


class LoadOrder:
    def __init__(self, on_parsed: ParsedCallback | None = None) -> None:
        # ("error", file) and ("parsed", module id), in the order they happened.
        self.events: list[tuple[str, str]] = []
        # Told of each parsed module as well (workers may start during the load).
        self.on_parsed = on_parsed

    @contextlib.contextmanager
    def watching(self, manager: BuildManager) -> Iterator[None]:
        """Record one graph load (an earlier one is forgotten)."""
        self.events = []
        events = self.events

        def note(path: str, info: ErrorInfo) -> bool:
            events.append(("error", path))
            return False  # Only watched: the error is reported as usual.

        # Other holders (the semantic analyzer, the plugins) keep the real dict,
        # which gets every module registered during the load afterwards.
        modules = manager.modules
        recording = _RecordingModules(modules, events, self.on_parsed)
        manager.modules = recording
        try:
            with ErrorWatcher(manager.errors, filter_errors=note):
                yield
        finally:
            modules.update(recording)
            manager.modules = modules
            manager.plugin.set_modules(modules)

    def parse_ranks(self, xpaths: dict[str, str]) -> dict[str, Rank]:
        """For each module of `xpaths` parsed in the load, when its whole tree would have been built.

        `xpaths` gives each module's file.  In a batch, a tree is built after
        those of the modules before it, whose errors precede the next ones.
        """
        ranks: dict[str, Rank] = {}
        index = 0
        gap_start = 0
        while index < len(self.events):
            if self.events[index][0] != "parsed":
                index += 1
                continue
            batch_start = index
            while index < len(self.events) and self.events[index][0] == "parsed":
                index += 1
            batch = [module_id for _, module_id in self.events[batch_start:index]]
            self._rank_batch(batch, gap_start, batch_start, xpaths, ranks)
            gap_start = index
        return ranks

    def _rank_batch(
        self, batch: list[str], gap_start: int, batch_start: int, xpaths: dict[str, str], ranks: dict[str, Rank]
    ) -> None:
        position = {xpaths.get(module_id, ""): order for order, module_id in enumerate(batch)}
        for order, module_id in enumerate(batch):
            if module_id not in xpaths:
                continue  # Not one of the modules asked about (a namespace package, say).
            # Before the first error of a later module of the batch, if any.
            target = float(batch_start)
            for event_index in range(gap_start, batch_start):
                kind, path = self.events[event_index]
                if kind == "error" and position.get(path, -1) > order:
                    target = float(event_index)
                    break
            ranks[module_id] = (target - 0.5, order)

    def first_error_ranks(self) -> dict[str, Rank]:
        """Each file with an error during the load: when it got its first."""
        ranks: dict[str, Rank] = {}
        for index, (kind, path) in enumerate(self.events):
            if kind == "error" and path not in ranks:
                ranks[path] = (float(index), 0)
        return ranks


def place_late_files(errors_map: dict[str, list[ErrorInfo]], late: dict[str, Rank], load: dict[str, Rank]) -> dict[str, list[ErrorInfo]]:
    """The error map with files that got their first error late (`late`, by file) in their place.

    Files with errors during the load keep their order (`load`); others keep
    theirs, after those.
    """
    ranked = [path for path in errors_map if path in load or path in late]
    ranked.sort(key=lambda path: load.get(path) or late[path])
    rest = [path for path in errors_map if path not in load and path not in late]
    return {path: errors_map[path] for path in ranked + rest}
