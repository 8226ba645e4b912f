"""Parsed modules kept in the native parser's serialized form until someone checks them.

With the native parser the engine parses a file into bytes (`FileRawData`)
and then builds the tree from them, which is most of the cost of parsing.  A
coordinator only needs each module's imports to plan the build, so when
workers will check the modules it asks the engine to build imports only and
keeps the bytes; a worker builds the whole tree from those bytes instead of
reading and parsing the file again.  Whatever the coordinator checks itself
gets its whole tree from the same bytes, without reporting the file's parse
errors a second time.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from librt.internal import ReadBuffer, WriteBuffer
from mypy.build import BuildManager, State
from mypy.errors import ErrorInfo, ErrorWatcher
from mypy.nodes import FileRawData, MypyFile
from mypy.parse import load_from_raw

if TYPE_CHECKING:
    from mypy_split.protocol import FileStat


# What the engine asks of `manager.workers` while loading the graph is only
# whether it is empty: non-empty, it builds imports only and keeps the bytes.
# Nothing ever reaches into this list (we never call the engine's dispatch,
# and hold none of its worker clients): a placeholder, typed Any on purpose.
_ENGINE_SEES_WORKERS: Any = ["mypy-split workers"]


def keeps_raw_trees(manager: BuildManager) -> bool:
    """Whether graph loading can keep serialized trees (only the native parser makes them)."""
    return bool(manager.options.native_parser)


@contextlib.contextmanager
def imports_only(manager: BuildManager, enabled: bool) -> Iterator[None]:
    """Load the graph building imports only, keeping each parsed file's bytes.

    Only around graph loading: any later parse in this process must build
    whole trees.
    """
    if not enabled:
        yield
        return
    manager.workers = _ENGINE_SEES_WORKERS
    try:
        yield
    finally:
        manager.workers = []


def raw_data(state: State) -> FileRawData | None:
    """The kept bytes of a module parsed with imports only, or None."""
    tree = state.tree
    if tree is None or tree.raw_data is None:
        return None
    return tree.raw_data


def serialize(data: FileRawData) -> bytes:
    buffer = WriteBuffer()
    data.write(buffer)
    return buffer.getvalue()


def deserialize(blob: bytes) -> FileRawData:
    return FileRawData.read(ReadBuffer(blob))


def file_stat(manager: BuildManager, state: State) -> FileStat | None:
    """The stat the engine will write into this module's meta, as this process took it.

    It was taken before the file was read (or is taken now, which is still
    before any later read), so a file edited meanwhile leaves a meta whose
    next run compares hashes instead of trusting the stat.
    """
    if not state.path:
        return None
    st = manager.get_stat(state.path)
    if st is None:
        return None
    return (
        st.st_mode, st.st_ino, st.st_dev, st.st_nlink, st.st_uid, st.st_gid, st.st_size,
        st.st_atime, st.st_mtime, st.st_ctime,
    )


def adopt_stat(manager: BuildManager, state: State, fields: FileStat) -> None:
    """Make this process's file cache answer the coordinator's stat for the module's file."""
    assert state.path
    path = manager.maybe_swap_for_shadow_path(state.path)
    manager.fscache.stat_or_none_cache[path] = os.stat_result(fields)


def build_tree(state: State, data: FileRawData) -> None:
    """The whole tree of a module from its bytes, as the engine's parse would leave it.

    The file is neither read nor hashed: the bytes carry its hash and inline
    configuration.  Parse errors are reported as parsing reports them.
    """
    state.tree = None
    state.parse_file(raw_data=data)


def build_trees_here(states: list[State], manager: BuildManager) -> None:
    """Whole trees for modules this process loaded with imports only, for checking here.

    Their parse errors were reported while the graph loaded; the errors that
    only building the whole tree finds are reported now, the others are not
    reported twice.
    """
    for state in states:
        data = raw_data(state)
        if data is None or not _imports_only_tree(state.tree):
            continue
        with _new_errors_only(manager, state.xpath):
            build_tree(state, data)


def report_whole_tree_errors(states: list[State], manager: BuildManager) -> None:
    """Report here the errors only a whole tree shows, of modules built elsewhere.

    A blocking error raised here lists the errors of every file not shown
    yet, as mypy does, which had those since it loaded the graph.  The tree
    is not kept; files already shown are left alone.
    """
    for state in states:
        data = raw_data(state)
        if data is None or state.xpath in manager.errors.flushed_files:
            continue
        with _new_errors_only(manager, state.xpath):
            load_from_raw(state.xpath, state.id, data, manager.errors, state.options)


@contextlib.contextmanager
def _new_errors_only(manager: BuildManager, xpath: str) -> Iterator[None]:
    """Drop the errors of this file that it has already (its parse errors, reported at load)."""
    errors = manager.errors
    before = {_error_key(info) for info in errors.error_info_map.get(xpath, [])}
    with ErrorWatcher(errors, filter_errors=lambda path, info: path == xpath and _error_key(info) in before):
        yield


def _imports_only_tree(tree: MypyFile | None) -> bool:
    return tree is not None and tree.raw_data is not None and not tree.defs


def _error_key(info: ErrorInfo) -> tuple[int, int, str, str, str | None]:
    return (info.line, info.column, info.severity, info.message, None if info.code is None else info.code.code)
