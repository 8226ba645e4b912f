"""Trees a worker builds while it has nothing else to do, for a task that may come to it.

On an empty cache every module waits for the builtins cycle, which one
worker checks while the others, once the graph has arrived, can only wait
(about half a second on two cores).  Building a module's tree from the
coordinator's bytes and the first semantic pass over it depend on nothing
else, so the coordinator hands an idle worker the trees of SCCs that will
be checked soon (mypy_split/prepare.py); if one of those tasks comes here,
its trees are ready.  This is what sequential mypy holds for a module it has
parsed and not yet processed: an unanalyzed tree among the build's modules.

Only a clean build is kept: a module with parse errors or inline `# mypy:`
options is left alone, and a tree whose building reports anything at all is
dropped, so that nothing is reported ahead of its task.  A tree kept here
for an SCC another worker checks is replaced when this process loads that
module from the cache, as any tree is.
"""

from __future__ import annotations

from mypy.build import BuildManager, Graph, State
from mypy.errors import CompileError, ErrorWatcher
from mypy.nodes import FileRawData, MypyFile

from mypy_split import raw_trees
from mypy_split.protocol import PrepareTrees


class PreparedTrees:
    """The trees built ahead in this process, by module, until their task takes them."""

    def __init__(self) -> None:
        self._trees: dict[str, MypyFile] = {}

    def build(self, message: PrepareTrees, graph: Graph, manager: BuildManager) -> list[str]:
        """Build what can be built cleanly of the message's modules; the ids of those kept."""
        kept: list[str] = []
        for module_id, suppressed_opts, blob, stat in zip(
            message.module_ids, message.suppressed_opts, message.raw_trees, message.stats
        ):
            state = graph.get(module_id)
            if state is None or state.tree is not None or not blob or stat is None:
                continue
            data = raw_trees.deserialize(blob)
            if data.raw_errors or data.mypy_comments:
                continue
            state.options = state.options.clone_for_module(state.id)
            state.known_suppressed_deps_opts = suppressed_opts
            raw_trees.adopt_stat(manager, state, stat)
            tree = self._build_cleanly(state, data, manager)
            if tree is not None:
                self._trees[module_id] = tree
                kept.append(module_id)
        return kept

    def take(self, state: State) -> bool:
        """Whether the state's tree is one built ahead here (and, from now on, its task's)."""
        tree = self._trees.pop(state.id, None)
        return tree is not None and tree is state.tree

    @staticmethod
    def _build_cleanly(state: State, data: FileRawData, manager: BuildManager) -> MypyFile | None:
        """The state's tree, built; if that reports anything, None and the state as it was."""
        failed = False
        with ErrorWatcher(manager.errors, filter_errors=True, filter_deprecated=True) as watcher:
            try:
                raw_trees.build_tree(state, data)
            except (CompileError, Exception):
                # Its task builds it again and reports whatever this was.
                failed = True
        tree = state.tree
        # Its task never parses it again: the engine's copy for re-parsing is not needed.
        manager.ast_cache.pop(state.id, None)
        if not failed and tree is not None and not watcher.has_new_errors():
            return tree
        state.tree = None
        manager.modules.pop(state.id, None)
        return None
