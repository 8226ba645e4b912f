"""Stored lines of modules loaded from a cache, merged into an update's answer.

A daemon that checked everything itself re-checks, on each update, every
target that had errors, and shows their lines in the order of its previous
answer; files that answer did not show come after, first the modules the
update was about, then the others in module-name order (the order in which
the engine re-checks them).  A module still loaded from the cache was not
re-checked, so its stored lines stand in for what that re-check would show;
`merge` places them exactly where the re-check's lines would be.
"""

from __future__ import annotations

from mypy.server.update import extract_fnam_from_message, sort_messages_preserving_file_order


def merge(
    messages: list[str],
    stored: dict[str, list[str]],
    reference: list[str],
    first_modules: list[str],
    module_of_file: dict[str, str],
) -> list[str]:
    """`messages` (the engine's answer) with `stored` (module -> lines) merged in.

    `reference` is the previous answer, `first_modules` the modules the update
    was about, `module_of_file` maps shown file names to module ids.
    """
    shown_before = files_in(reference)
    new_files = [f for f in files_in(messages) if f not in shown_before]
    first_files = {f for f in new_files if module_of_file.get(f) in first_modules}
    leading = [f for f in new_files if f in first_files]
    others = {module_of_file.get(f, f): f for f in new_files if f not in first_files}
    for module_id, lines in stored.items():
        for file in files_in(lines):
            if file not in shown_before:
                others.setdefault(module_id, file)
    order = leading + [others[key] for key in sorted(others)]
    # Lines naming the files in this order extend the previous answer as the
    # sort's reference: files it knows keep their places, new ones follow.
    extended = reference + [f"{file}:1: error: " for file in order]
    return sort_messages_preserving_file_order(messages + [line for lines in stored.values() for line in lines], extended)


def files_in(lines: list[str]) -> list[str]:
    """The files the lines name, in order of first appearance."""
    seen: dict[str, None] = {}
    for line in lines:
        file = extract_fnam_from_message(line)
        if file is not None:
            seen.setdefault(file)
    return list(seen)
