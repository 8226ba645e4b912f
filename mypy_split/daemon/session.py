"""The daemon's program state: the first check kept in memory, then fine-grained updates.

A `Session` answers `check`, `run` and `recheck` with the lines mypy's daemon
would show for the same edits: the first check is a whole build (see
`coldstart`), each later one finds what changed and hands it to the engine's
`FineGrainedBuildManager`.  Modules still as loaded from a cache have no
errors in the engine's memory; their stored lines (`seeds`) are added to each
answer until an edit makes the engine check them again.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import mypy.build
from mypy.build import BuildResult
from mypy.find_sources import InvalidSourceList, create_source_list
from mypy.fscache import FileSystemCache
from mypy.fswatcher import FileData, FileSystemWatcher
from mypy.modulefinder import BuildSource, compute_search_paths
from mypy.server.update import (
    FineGrainedBuildManager,
    ensure_deps_loaded,
    ensure_trees_loaded,
    refresh_suppressed_submodules,
)
from mypy.util import FancyFormatter, count_stats

from mypy_split.daemon import changes, seeds, typeddicts
from mypy_split.daemon.changes import ModulePath
from mypy_split.daemon.options import StartOptions
from mypy_split.daemon.coldstart import FINE_GRAINED_SUBDIR, cold_start, is_skeleton

Reply = dict[str, Any]

# Files warm_up reads in one step between requests (a few milliseconds).
SOURCES_PER_STEP = 20


class Session:
    def __init__(self, start: StartOptions, formatter: FancyFormatter) -> None:
        self.options = start.options
        self.start = start
        self.formatter = formatter
        self.fscache = FileSystemCache()
        self.fswatcher = FileSystemWatcher(self.fscache)
        self.fine_grained: FineGrainedBuildManager | None = None
        self.previous_sources: list[BuildSource] = []
        self.seeds: dict[str, list[str]] = {}
        self.last_messages: list[str] = []
        # A fine-grained cache of our own when the user's is disabled; removed at exit.
        self.private_cache: str | None = None
        self.loaded_from_cache = False
        # Modules whose trees are still on disk, last to load first (see warm_up).
        self.cold_modules: list[str] = []
        # Modules whose fine-grained dependency maps are still on disk, in the same order.
        self.cold_deps: list[str] = []
        # Modules whose loaded trees load_trees has looked at.
        self.trees_seen: set[str] = set()
        # Modules loaded from a cache: those whose source warm_up is still to
        # read, those read, and the key order of their TypedDicts found there.
        self.unread_sources: list[str] = []
        self.sources_read: set[str] = set()
        self.typeddict_orders: dict[str, typeddicts.Orders] = {}

    # The commands.

    def check(self, sources: list[BuildSource], export_types: bool, is_tty: bool, width: int) -> Reply:
        with self.exporting(export_types):
            if self.fine_grained is None:
                reply = self.initialize(sources, is_tty, width)
            else:
                if self.following():
                    messages = self.increment_following(sources, export_types)
                else:
                    messages = self.increment(sources, None, None, export_types)
                reply = self.increment_reply(messages, sources, is_tty, width)
            self.flush_caches()
            self.take_stats(reply)
        return reply

    def recheck(
        self, remove: list[str] | None, update: list[str] | None, export_types: bool, is_tty: bool, width: int
    ) -> Reply:
        if self.fine_grained is None:
            return {"error": "Command 'recheck' is only valid after a 'check' command"}
        sources = self.previous_sources
        if remove:
            gone = set(remove)
            sources = [s for s in sources if s.path and s.path not in gone]
        if update:
            # Stubs first: a `.pyi` beside its `.py` must win the module name.
            update.sort(key=lambda path: os.path.splitext(path)[1], reverse=True)
            known = {s.path for s in sources if s.path}
            try:
                added = create_source_list([p for p in update if p not in known], self.options, self.fscache)
            except InvalidSourceList as error:
                return {"out": "", "err": str(error), "status": 2}
            sources = sources + added
        with self.exporting(export_types):
            if self.following():
                if remove is not None or update is not None:
                    return {"error": "--remove and --update need --follow-imports=skip or error"}
                messages = self.increment_following(sources, export_types)
            else:
                messages = self.increment(sources, remove, update, export_types)
            reply = self.increment_reply(messages, sources, is_tty, width)
            self.flush_caches()
            self.take_stats(reply)
        return reply

    # The first check.

    def initialize(self, sources: list[BuildSource], is_tty: bool, width: int) -> Reply:
        self.fswatcher = FileSystemWatcher(self.fscache)
        self.watch(sources)
        argv = list(self.start.flags)
        if not self.start.flags_name_targets:
            argv += [s.path for s in sources if s.path]
        workers = self.start.workers
        cache_dir = self.fine_grained_cache_dir() if workers > 0 else os.devnull
        cold = cold_start(sources, self.options, self.fscache, workers, argv, cache_dir)
        if cold.kept is None:
            text = "".join(line + "\n" for line in cold.messages)
            out, err = (text, "") if not cold.serious else ("", text)
            return {"out": out, "err": err, "status": 2, "stdout": cold.printed}
        result = BuildResult(cold.kept.manager, cold.kept.graph)
        result.errors = list(cold.messages)
        self.fine_grained = FineGrainedBuildManager(result)
        shown_sources = len(sources)
        if self.following():
            sources = changes.all_sources_in_build(self.fine_grained.graph, sources)
            self.watch(sources)
        self.previous_sources = sources
        self.seeds = cold.seeds
        self.last_messages = cold.messages or [line for lines in cold.seeds.values() for line in lines]
        self.fine_grained.previous_messages = list(self.last_messages)
        self.loaded_from_cache = result.used_cache
        if result.used_cache:
            messages = self.catch_up_with_disk(sources)
            order = [m for scc in mypy.build.sorted_components(self.fine_grained.graph) for m in sorted(scc.mod_ids)]
            self.cold_modules = order[::-1]
            self.unread_sources = list(self.cold_modules)
            self.cold_deps = list(self.cold_modules)
        else:
            # Remember every file's state as of this check.
            self.fswatcher.find_changed()
            messages = self.last_messages
        _, notes, _ = count_stats(messages)
        status = 1 if messages and notes < len(messages) else 0
        lines = self.pretty(messages, shown_sources, is_tty, width)
        return {"out": "".join(line + "\n" for line in lines), "err": "", "status": status, "stdout": cold.printed}

    def catch_up_with_disk(self, sources: list[BuildSource]) -> list[str]:
        """After loading from a cache: update what changed since the cache was written."""
        assert self.fine_grained is not None
        graph = self.fine_grained.graph
        for state in graph.values():
            if state.meta is not None and state.path is not None:
                meta = state.meta
                self.fswatcher.set_file_data(
                    state.path, FileData(st_mtime=float(meta.mtime), st_size=meta.size, hash=meta.hash)
                )
        changed, removed = changes.explicit_changes(sources, self.previous_sources, self.fswatcher.find_changed())
        manager = self.fine_grained.manager
        changed += changes.added_suppressed(
            graph, set(), manager.search_paths, self.fscache, self.options, self.following()
        )
        changed += [(state.id, state.xpath) for state in graph.values() if not state.is_fresh()]
        messages = self.update(changed, removed)
        if self.following():
            messages = self.increment_following(sources, False)
        return messages

    def warm_up(self) -> bool:
        """Do one small step of loading from the cache; False when nothing is left.

        The server calls this while no request waits.  A daemon loaded from a
        cache would otherwise load a module's tree and its dependencies' trees
        at its first edit; one that checked everything itself has them in
        memory already.  Three phases, most urgent first: the sources are
        read before an edit changes them (see typeddicts); then the trees,
        dependencies first, which any edit needs for everything the edited
        module imports; last the fine-grained dependency maps, which only an
        edit that changes an interface reads (and the engine would load them
        itself when it does).
        """
        if self.unread_sources:
            # Read while the files are still what the cache describes.
            self.read_sources(self.unread_sources[-SOURCES_PER_STEP:])
            del self.unread_sources[-SOURCES_PER_STEP:]
            return True
        if self.fine_grained is None:
            return False
        if self.cold_modules:
            self.load_next_tree()
            return True
        if self.cold_deps:
            graph = self.fine_grained.graph
            for module_id in self.cold_deps[-SOURCES_PER_STEP:]:
                if module_id in graph:
                    ensure_deps_loaded(module_id, self.fine_grained.deps, graph)
            del self.cold_deps[-SOURCES_PER_STEP:]
            return True
        return False

    def load_next_tree(self) -> None:
        """Load the tree of the next module not loaded yet (skipping those an update loaded)."""
        assert self.fine_grained is not None
        manager = self.fine_grained.manager
        while self.cold_modules:
            module_id = self.cold_modules.pop()
            if module_id in self.fine_grained.graph and module_id not in manager.modules:
                self.load_trees([module_id])
                return

    def load_trees(self, module_ids: list[str]) -> None:
        """Load the trees of `module_ids` and their dependencies from the cache, as the engine would.

        Each tree newly loaded gets its TypedDicts back in source order (see
        `typeddicts`): an edit's comparison of before and after then finds
        what changed in the text, not what the cache changed.
        """
        assert self.fine_grained is not None
        manager, graph = self.fine_grained.manager, self.fine_grained.graph
        ensure_trees_loaded(manager, graph, module_ids)
        loaded = list(manager.modules.keys() - self.trees_seen)
        self.trees_seen.update(loaded)
        self.read_sources(loaded)

    def trees_to_load_first(self, changed: list[str]) -> list[str]:
        """The changed modules, and those whose TypedDicts an update could otherwise see in cache order.

        An update checks a module still loaded from the cache whole when an
        edit reaches it, comparing its tree before and after; a tree the
        engine loads itself mid-update keeps the cache's key order, which
        looks like an edit of every TypedDict whose source order differs and
        re-checks whole all that use it.  Only modules importing a changed
        one can be reached; they are looked for only while the warm-up has
        not read every source or loaded every such tree yet.
        """
        assert self.fine_grained is not None
        manager, graph = self.fine_grained.manager, self.fine_grained.graph
        first = [module_id for module_id in changed if module_id in graph]

        def pending() -> set[str]:
            # The engine's cache stores keys sorted: only other orders look changed.
            return {
                m
                for m, orders in self.typeddict_orders.items()
                if m in graph and m not in manager.modules and any(keys != sorted(keys) for keys in orders.values())
            }

        if first and (self.unread_sources or pending()):
            reachable = changes.importers_of_any(first, graph)
            # Their text is still what the cache describes unless this edit changed it too.
            self.read_sources([m for m in self.unread_sources if m in reachable])
            first += sorted(pending() & reachable)
        return first

    def read_sources(self, module_ids: list[str]) -> None:
        """Note the TypedDict key order in each module's source, if it is still the cached text.

        Then put the TypedDicts of those modules' loaded trees in that order.
        """
        assert self.fine_grained is not None
        manager, graph = self.fine_grained.manager, self.fine_grained.graph
        for module_id in module_ids:
            state = graph.get(module_id)
            if module_id in self.sources_read or state is None or state.meta is None or not state.path:
                continue
            self.sources_read.add(module_id)
            orders = typeddicts.source_orders(state.path, state.meta.hash)
            if orders:
                self.typeddict_orders[module_id] = orders
        for module_id in module_ids:
            orders = self.typeddict_orders.get(module_id)
            tree = manager.modules.get(module_id)
            if orders and tree is not None and tree.is_cache_skeleton:
                typeddicts.restore_source_order(tree, orders)

    # Later checks.

    def increment(
        self, sources: list[BuildSource], remove: list[str] | None, update: list[str] | None, export_types: bool
    ) -> list[str]:
        """One update with imports not followed: only the explicit sources count."""
        assert self.fine_grained is not None
        manager = self.fine_grained.manager
        if remove is None and update is None:
            self.watch(sources)
            changed_paths = self.fswatcher.find_changed()
        else:
            # Trust the lists given: no stat() of the other files.
            changed_paths = self.fswatcher.update_changed(remove or [], update or [])
        changed, removed = changes.explicit_changes(sources, self.previous_sources, changed_paths)
        if export_types:
            changes.with_all_sources(sources, changed)
        changed += changes.added_suppressed(
            self.fine_grained.graph, set(), manager.search_paths, self.fscache, self.options, False
        )
        manager.search_paths = compute_search_paths(sources, manager.options, manager.data_dir)
        messages = self.update(changed, removed)
        self.previous_sources = sources
        return messages

    def increment_following(self, sources: list[BuildSource], export_types: bool) -> list[str]:
        """One update with imports followed: walk from the sources to what changed."""
        assert self.fine_grained is not None
        fine_grained = self.fine_grained
        graph = fine_grained.graph
        manager = fine_grained.manager
        modules_before = list(graph)
        self.watch(sources)
        changed_paths = self.fswatcher.find_changed()
        manager.search_paths = compute_search_paths(sources, manager.options, manager.data_dir)
        seen = {source.module for source in sources}
        changed, met = changes.reachable_changed(sources, graph, seen, changed_paths)
        changes.add_returning(sources, self.previous_sources, changed)
        if export_types:
            changes.with_all_sources(sources, changed)
        sources.extend(met)
        messages = self.update(changed, [], followed=True)
        # A changed module may import modules the graph has not met yet.
        todo = list(changed)
        while todo:
            module_id, _ = todo.pop()
            if module_id not in graph:
                continue
            roots = changes.direct_imports(module_id, graph, seen)
            more, met = changes.reachable_changed(roots, graph, seen, changed_paths)
            self.watch(met)
            messages = self.update(more, [], followed=True)
            todo.extend(more)
        messages = self.refresh_submodules(list(graph.items()), messages)
        while True:
            found = changes.added_suppressed(graph, seen, manager.search_paths, self.fscache, self.options, True)
            if not found:
                break
            met = [BuildSource(path, module_id, followed=True) for module_id, path in found]
            sources.extend(met)
            self.watch(met)
            messages = self.update(found, [], followed=True)
            messages = self.refresh_submodules([(m, graph[m]) for m, _ in found if m in graph], messages)
        # Modules no walk reached have left the program.
        gone = [(m, graph[m].xpath) for m in modules_before if m in graph and m not in seen]
        if gone:
            messages = self.update([], gone)
        changes.resync_dependencies(graph)
        self.previous_sources = changes.all_sources_in_build(graph)
        self.watch(self.previous_sources)
        self.fswatcher.find_changed()
        return messages

    def refresh_submodules(self, states: list[Any], messages: list[str]) -> list[str]:
        """Submodules added under packages that import them by `from pkg import sub`."""
        assert self.fine_grained is not None
        fine_grained = self.fine_grained

        def refresh(module_id: str, path: str) -> list[str]:
            # The engine asks for a tree to read the imports of: a module still
            # on disk in the cache gets its cached tree, as it would after
            # warm_up, rather than a whole check that finds nothing new.
            state = fine_grained.graph.get(module_id)
            if self.loaded_from_cache and state is not None and state.meta is not None:
                self.load_trees([module_id])
                if state.tree is not None:
                    return self.last_messages
            return self.update([(module_id, path)], [], followed=True)

        for module_id, state in states:
            refreshed = refresh_suppressed_submodules(
                module_id, state.path, fine_grained.deps, fine_grained.graph, self.fscache, refresh
            )
            if refreshed is not None:
                messages = refreshed
        return messages

    def update(self, changed: list[ModulePath], removed: list[ModulePath], followed: bool = False) -> list[str]:
        """One engine update, plus the stored lines of modules it has not checked yet."""
        assert self.fine_grained is not None
        if not changed and not removed:
            return self.last_messages
        reference = self.last_messages
        if self.loaded_from_cache:
            # Loaded here before the engine would: see load_trees.
            self.load_trees(self.trees_to_load_first([module_id for module_id, _ in changed]))
        messages = self.fine_grained.update(changed, removed, followed)
        if self.loaded_from_cache and self.fine_grained.blocking_error is None:
            # The engine updates a module loaded from the cache whole, after the
            # others: its lines go where a re-check of a checked one would be.
            manager, graph = self.fine_grained.manager, self.fine_grained.graph
            self.seeds = {m: lines for m, lines in self.seeds.items() if is_skeleton(m, manager, graph)}
            order = [module_id for module_id, _ in changed + removed]
            last = order[-1] if order else None

            def module_of_file() -> dict[str, str]:
                return {manager.errors.simplify_path(state.xpath): m for m, state in graph.items()}

            def importers() -> set[str]:
                return changes.importers_of(last, graph) if last is not None else set()

            messages = seeds.merge(messages, self.seeds, reference, last, importers, module_of_file)
        self.fine_grained.previous_messages = list(messages)
        self.last_messages = messages
        return messages

    # Helpers.

    def following(self) -> bool:
        return self.options.follow_imports == "normal"

    def watch(self, sources: list[BuildSource]) -> None:
        paths = [s.path for s in sources if s.path is not None]
        if self.following():
            # Folders stand for namespace packages: nothing to watch there.
            paths = [path for path in paths if self.fscache.isfile(path)]
        self.fswatcher.add_watched_paths(paths)

    def flush_caches(self) -> None:
        self.fscache.flush()
        if self.fine_grained is not None:
            self.fine_grained.flush_cache()

    def take_stats(self, reply: Reply) -> None:
        """The engine's counters since the last answer (`-v`, `--perf-stats-file`)."""
        if self.fine_grained is not None:
            manager = self.fine_grained.manager
            manager.dump_stats()
            reply["stats"] = dict(manager.stats)
            manager.stats = {}

    @contextmanager
    def exporting(self, export_types: bool) -> Iterator[None]:
        before = self.options.export_types
        self.options.export_types = before or export_types
        try:
            yield
        finally:
            self.options.export_types = before

    def fine_grained_cache_dir(self) -> str:
        """Where a parallel first check writes its fine-grained cache."""
        if self.options.use_fine_grained_cache:
            return self.options.cache_dir
        if self.start.user_cache_dir != os.devnull:
            return os.path.join(self.start.user_cache_dir, FINE_GRAINED_SUBDIR)
        if self.private_cache is None:
            self.private_cache = tempfile.mkdtemp(prefix="dmypy-split-cache-")
        return self.private_cache

    def increment_reply(self, messages: list[str], sources: list[BuildSource], is_tty: bool, width: int) -> Reply:
        # mypy's daemon: any line at all (notes included) makes a recheck exit 1.
        status = 1 if messages else 0
        lines = self.pretty(messages, len(sources), is_tty, width)
        return {"out": "".join(line + "\n" for line in lines), "err": "", "status": status}

    def pretty(self, messages: list[str], n_sources: int, is_tty: bool, width: int) -> list[str]:
        """Fit, summarize and colour the lines as mypy's daemon does for this terminal."""
        use_color = self.options.color_output and is_tty
        if self.options.pretty and is_tty:
            messages = self.formatter.fit_in_terminal(messages, fixed_terminal_width=width)
        if self.options.error_summary:
            n_errors, n_notes, n_files = count_stats(messages)
            if n_errors:
                messages = messages + [self.formatter.format_error(n_errors, n_files, n_sources, use_color=use_color)]
            elif not messages or n_notes == len(messages):
                messages = messages + [self.formatter.format_success(n_sources, use_color)]
        if use_color:
            messages = [self.formatter.colorize(m) for m in messages]
        return messages

