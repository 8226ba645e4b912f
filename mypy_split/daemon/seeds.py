"""The order of an answer given from a cache: where mypy's daemon would put each file.

A daemon that checked everything itself shows an update's lines in the order
of its previous answer; files that answer did not show follow in the order
the engine met their errors.  Each module the engine updates whole starts
from a clean slate, so what it met last wins: the last edited module, then
the modules importing it (re-checked because of it), then every other target
with errors, by module name.  A daemon loaded from a cache updates a
dependent still loaded from the cache whole, one more clean slate, which
shuffles that order; its stored lines (for modules not re-checked at all)
must be placed too.  `merge` puts every file where mypy's daemon would.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from mypy.server.update import extract_fnam_from_message, sort_messages_preserving_file_order


def merge(
    messages: list[str],
    stored: dict[str, list[str]],
    reference: list[str],
    last_module: str | None,
    importers: Callable[[], Iterable[str]],
    module_of_file: Callable[[], dict[str, str]],
) -> list[str]:
    """`messages` (the engine's answer) with `stored` (module -> lines) merged in, reordered.

    `reference` is the previous answer, `last_module` the last module the
    update was about, `importers()` the modules importing it (directly or
    not), `module_of_file()` maps shown file names to module ids.  Both walk
    the whole program, so they are called only when two files or more are
    new to the answer (a recheck usually shows the files of the previous one,
    a body edit at most one more).
    """
    shown_before = set(files_in(reference))
    new_files = [file for file in files_in(messages) if file not in shown_before]
    stored_new = [(m, file) for m, lines in stored.items() for file in files_in(lines) if file not in shown_before]
    if len(new_files) + len(stored_new) <= 1:
        # One new file (a body edit's new error, say) has nowhere else to go.
        order = new_files + [file for _, file in stored_new]
    else:
        order = ranked(new_files, stored_new, last_module, importers, module_of_file)
    # Lines naming the files in this order extend the previous answer as the
    # sort's reference: files it knows keep their places, new ones follow.
    extended = reference + [f"{file}:1: error: " for file in order]
    lines = messages + [line for module_lines in stored.values() for line in module_lines]
    return sort_messages_preserving_file_order(lines, extended)


def ranked(
    new_files: list[str],
    stored_new: list[tuple[str, str]],
    last_module: str | None,
    importers: Callable[[], Iterable[str]],
    module_of_file: Callable[[], dict[str, str]],
) -> list[str]:
    """The files new to the answer: the last edited module's, its importers', then the rest by module name."""
    new: dict[str, str] = {}
    if new_files:
        modules = module_of_file()
        for file in new_files:
            new.setdefault(modules.get(file, file), file)
    for module_id, file in stored_new:
        new.setdefault(module_id, file)
    wave = set(importers())

    def rank(module_id: str) -> tuple[int, str]:
        return (0 if module_id == last_module else 1 if module_id in wave else 2, module_id)

    return [new[module_id] for module_id in sorted(new, key=rank)]


def files_in(lines: list[str]) -> list[str]:
    """The files the lines name, in order of first appearance."""
    seen: dict[str, None] = {}
    for line in lines:
        file = extract_fnam_from_message(line)
        if file is not None:
            seen.setdefault(file)
    return list(seen)
