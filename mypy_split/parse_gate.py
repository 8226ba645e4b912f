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


class ParseGate:
    def __init__(self, graph: Graph, manager: BuildManager, show: phases.ShowErrors) -> None:
        self.graph = graph
        self.manager = manager
        self._show = show
        # Modules loaded with imports only and not yet built whole anywhere.
        self.unbuilt = {module_id for module_id, state in graph.items() if raw_trees.raw_data(state) is not None}
        self.parsed_here = frozenset(self.unbuilt)
        self.held: list[phases.ModuleErrors] = []

    def show(self, module_errors: phases.ModuleErrors) -> None:
        if self.unbuilt:
            self.held.append(module_errors)
        else:
            self._show(module_errors)

    def built(self, module_ids: set[str]) -> None:
        """These modules' whole trees were built without a blocker (in a worker)."""
        self.unbuilt -= module_ids
        self.release()

    def build_all_here(self) -> None:
        """Build every tree not yet built, here; before this process checks anything itself.

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
        self.built(set(self.unbuilt))

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
        self.manager.commit()
