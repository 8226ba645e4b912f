"""Output held until every module parsed with imports only is known to build whole.

A few blocking errors come only from building a module's whole tree (a
duplicate parameter name, a malformed `Arg(...)` in a callable type): mypy
reports them while it loads the graph, before anything is printed, and stops
there.  A coordinator that kept serialized trees (see raw_trees.py) learns of
them only when a tree is built, in a worker or here.  So nothing is shown
until each such module has been built once without a blocker (a worker's
interface result says so); if one has a blocker, the run is done again
without workers, which reports it exactly as mypy does.

For that second run to load the graph as the first one did, the cache
entries this run wrote for those modules are removed again: they had none
that the engine accepted (that is why they were parsed), and without one
they are parsed again.  Other modules' entries keep them fresh, as they were.
"""

from __future__ import annotations

import mypy.build
from mypy.build import BuildManager, Graph
from mypy.errors import CompileError

from mypy_split import phases, raw_trees
from mypy_split.failures import ReloadWithoutWorkers
from mypy_split.load_order import LoadOrder, place_late_files


class ParseGate:
    def __init__(self, graph: Graph, manager: BuildManager, show: phases.ShowErrors) -> None:
        self.graph = graph
        self.manager = manager
        self._show = show
        # Modules loaded with imports only and not yet built whole anywhere.
        self.unbuilt = {module_id for module_id, state in graph.items() if raw_trees.raw_data(state) is not None}
        self.parsed_here = frozenset(self.unbuilt)
        # Built by workers only: the errors only a whole tree shows are not here.
        self.built_elsewhere: set[str] = set()
        self.held: list[phases.ModuleErrors] = []
        # How the graph loaded, when it was watched (see load_order.py).
        self.load_order: LoadOrder | None = None

    def show(self, module_errors: phases.ModuleErrors) -> None:
        if self.unbuilt:
            self.held.append(module_errors)
        else:
            self._show(module_errors)

    def built(self, module_ids: set[str]) -> None:
        """These modules' whole trees were built without a blocker (in a worker)."""
        self.built_elsewhere |= module_ids & self.unbuilt
        self.unbuilt -= module_ids
        self.release()

    def before_checking_here(self) -> None:
        """Make this process's errors what mypy's are at this point; before it checks anything.

        Every tree not yet built is built here (see `build_all_here`), and the
        modules built by workers only report here what only their whole tree
        shows: a blocker this process raises lists every file not shown yet.
        """
        reports = bool(self.built_elsewhere or self.unbuilt)
        if self.built_elsewhere:
            elsewhere = [state for module_id, state in self.graph.items() if module_id in self.built_elsewhere]
            self.built_elsewhere.clear()
            raw_trees.report_whole_tree_errors(elsewhere, self.manager)
        self.build_all_here()
        if reports and self.load_order is not None:
            self.place_late_files(self.load_order)

    def place_late_files(self, load_order: LoadOrder) -> None:
        """Files whose first error was reported just now go where mypy had them (load_order.py)."""
        xpaths = {module_id: self.graph[module_id].xpath for module_id in self.parsed_here}
        late = {xpaths[module_id]: rank for module_id, rank in load_order.parse_ranks(xpaths).items()}
        errors = self.manager.errors
        errors.error_info_map = place_late_files(errors.error_info_map, late, load_order.first_error_ranks())

    def build_all_here(self) -> None:
        """Build every tree not yet built, here.

        A blocker found here is one mypy reports while loading the graph:
        raises ReloadWithoutWorkers once the cache is as the graph found it.
        """
        if not self.unbuilt:
            return
        states = [state for module_id, state in self.graph.items() if module_id in self.unbuilt]
        try:
            raw_trees.build_trees_here(states, self.manager)
        except CompileError as error:
            self.forget_cache_entries()
            raise ReloadWithoutWorkers() from error
        self.unbuilt.clear()
        self.release()

    def release(self) -> None:
        if self.unbuilt:
            return
        held, self.held = self.held, []
        for module_errors in held:
            self._show(module_errors)

    def forget_cache_entries(self) -> None:
        """Remove the metas written for the modules this process parsed (see the module doc)."""
        if not phases.writes_cache(self.manager):
            return
        store = self.manager.metastore
        for module_id in sorted(self.parsed_here):
            state = self.graph[module_id]
            if not state.path:
                continue
            meta_file, _, _ = mypy.build.get_cache_names(module_id, state.xpath, self.manager.options)
            for name in (meta_file, mypy.build.get_meta_ex_name(meta_file)):
                try:
                    store.remove(name)
                except OSError:
                    pass
            # One shard's lock at a time (see phases.invalidate_error_caches).
            self.manager.commit_module(meta_file)
