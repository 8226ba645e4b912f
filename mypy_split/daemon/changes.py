"""What changed since the last check: the module lists a fine-grained update needs.

These are pure functions over the engine's graph, the file watcher's answer
and the source lists, with the same rules mypy's own daemon follows (so the
same edits lead to the same updates): explicit sources that were modified,
added back or renamed by a new `__init__.py`; sources that left the build;
suppressed imports that now resolve; and, when imports are followed, the
changed modules reachable from the sources.
"""

from __future__ import annotations

from collections.abc import Iterable, Set as AbstractSet

from mypy.build import Graph
from mypy.fscache import FileSystemCache
from mypy.modulefinder import BuildSource, FindModuleCache, SearchPaths
from mypy.options import Options

ModulePath = tuple[str, str]


def explicit_changes(
    sources: list[BuildSource], previous: list[BuildSource], changed_paths: AbstractSet[str]
) -> tuple[list[ModulePath], list[ModulePath]]:
    """Changed and removed (module, path) pairs among the explicit sources."""
    changed = [(s.module, s.path) for s in sources if s.path and s.path in changed_paths]
    modules = {s.module for s in sources}
    removed = [(s.module, s.path) for s in previous if s.module not in modules and s.path]
    add_returning(sources, previous, changed)
    # A file whose module name changed (an `__init__.py` came or went) leaves
    # under its old name and arrives under the new one.
    old_names = {s.path: s.module for s in previous if s.path}
    for source in sources:
        path = source.path
        if path is not None and path in old_names and old_names[path] != source.module:
            removed.append((old_names[path], path))
            changed.append((source.module, path))
    return unique(changed), unique(removed)


def unique(pairs: list[ModulePath]) -> list[ModulePath]:
    return list(dict.fromkeys(pairs))


def add_returning(
    sources: list[BuildSource], previous: list[BuildSource], changed: list[ModulePath]
) -> None:
    """Add the sources new since the last check to `changed`.

    A source that left an earlier build and came back may look unchanged on
    disk, yet its errors left with it: it is checked again.
    """
    previous_modules = {s.module for s in previous}
    present = set(changed)
    for source in sources:
        if source.path and source.module not in previous_modules and (source.module, source.path) not in present:
            changed.append((source.module, source.path))
            present.add((source.module, source.path))


def with_all_sources(sources: list[BuildSource], changed: list[ModulePath]) -> None:
    """Add every explicit source to `changed` (`--export-types` must visit every expression)."""
    present = set(changed)
    for source in sources:
        if source.path and (source.module, source.path) not in present:
            changed.append((source.module, source.path))
            present.add((source.module, source.path))


def added_suppressed(
    graph: Graph,
    seen: set[str],
    search_paths: SearchPaths,
    fscache: FileSystemCache,
    options: Options,
    following: bool,
) -> list[ModulePath]:
    """Suppressed imports that now resolve to a file; they join `seen`."""
    wanted = {
        module
        for state in graph.values()
        for module in state.suppressed_set
        # `encodings` resolves its submodules at run time: never worth a look.
        if module not in graph and not module.startswith("encodings.")
    }
    tops = present_top_levels({m.split(".", 1)[0] for m in wanted}, search_paths, fscache)
    finder = FindModuleCache(search_paths, fscache, options)
    found: list[ModulePath] = []
    for module in wanted:
        if module.split(".", 1)[0] not in tops:
            continue
        result = finder.find_module(module, fast_path=True)
        if not isinstance(result, str) or module in seen:
            continue
        # Without following imports, only stubs join the build this way.
        if not following and not result.endswith(".pyi"):
            continue
        found.append((module, result))
        seen.add(module)
    return found


def present_top_levels(
    names: set[str], search_paths: SearchPaths, fscache: FileSystemCache
) -> set[str]:
    """The names that might exist in some search folder (a cheap filter before lookups)."""
    folders = (
        search_paths.python_path
        + search_paths.mypy_path
        + search_paths.package_path
        + search_paths.typeshed_path
    )
    present: set[str] = set()
    for folder in folders:
        try:
            entries = fscache.listdir(folder)
        except OSError:
            continue
        for entry in entries:
            for suffix in (".py", ".pyi", "-stubs"):
                if entry.endswith(suffix):
                    entry = entry[: -len(suffix)]
                    break
            if entry in names:
                present.add(entry)
    return present


def reachable_changed(
    roots: list[BuildSource], graph: Graph, seen: set[str], changed_paths: AbstractSet[str]
) -> tuple[list[ModulePath], list[BuildSource]]:
    """Walk imports from `roots` inside the graph, stopping at changed modules.

    Returns the changed modules reached and the modules met for the first
    time (not in `seen`, which grows).  A changed module's imports may have
    changed too, so the walk does not go through it.
    """
    changed: list[ModulePath] = []
    met: list[BuildSource] = []
    todo = list(roots)
    seen.update(source.module for source in todo)
    while todo:
        source = todo.pop()
        if source.module not in seen:
            seen.add(source.module)
            met.append(source)
        if source.path in changed_paths:
            assert source.path is not None
            changed.append((source.module, source.path))
            continue
        state = graph.get(source.module)
        if state is None:
            continue
        for dep in state.dependencies + (state.ancestors or []):
            if dep not in seen:
                seen.add(dep)
                todo.append(BuildSource(graph[dep].path, graph[dep].id, followed=True))
    return changed, met


def direct_imports(module: str, graph: Graph, seen: set[str]) -> list[BuildSource]:
    return [
        BuildSource(graph[dep].path, dep, followed=True)
        for dep in graph[module].dependencies
        if dep not in seen
    ]


def all_sources_in_build(graph: Graph, first: Iterable[BuildSource] = ()) -> list[BuildSource]:
    """`first`, then every other module of the graph as a source."""
    result = list(first)
    known = {source.module for source in result}
    result.extend(BuildSource(state.path, module) for module, state in graph.items() if module not in known)
    return result


def resync_dependencies(graph: Graph) -> None:
    """After an update, an import is a dependency exactly when its module is in the graph."""
    for state in graph.values():
        imports = state.dependencies + state.suppressed
        state.dependencies = [dep for dep in imports if dep in graph]
        state.dependencies_set = set(state.dependencies)
        state.suppressed = [dep for dep in imports if dep not in graph]
        state.suppressed_set = set(state.suppressed)


def importers_of(module_id: str, graph: Graph) -> set[str]:
    """The modules that import `module_id`, directly or through others."""
    return importers_of_any([module_id], graph)


def importers_of_any(module_ids: Iterable[str], graph: Graph) -> set[str]:
    """The modules that import any of `module_ids`, directly or through others (not those named)."""
    importers: dict[str, list[str]] = {}
    for state in graph.values():
        for dep in state.dependencies:
            importers.setdefault(dep, []).append(state.id)
    named = set(module_ids)
    found: set[str] = set()
    todo = list(named)
    while todo:
        for importer in importers.get(todo.pop(), []):
            if importer not in found and importer not in named:
                found.add(importer)
                todo.append(importer)
    return found
