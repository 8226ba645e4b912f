"""Signatures read back from message text: which ones a missing argument list may have changed.

A worker puts a loaded function's argument list back only once the
function is read, and only before an answer that prints a signature
(`memory_form.restore_read_functions`): what it finds then without a list
may have been printed in the cache's form.  The engine prints a signature
(`messages.pretty_callable`) as `def NAME(ARGUMENTS) -> ...`, and the list
changes only whether the function's first argument's name comes before the
arguments.  So a printed signature can only have changed where its name is
the function's, and its arguments, printed without the list, are those of a
signature linked to the function in a form the list would print otherwise
(`Lacked.may_differ`).  What cannot be read counts as changed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple


# How a signature's arguments are printed: each one's star prefix ("", "*"
# or "**") and name (None: positional-only, or a star argument without a
# name), and whether that is all of them.  Where star arguments can become
# others or more (a ParamSpec, a TypeVarTuple, keywords unpacked from a
# TypedDict), only the arguments before the first.  None for a signature of
# unknown shape (a decorated type that is not a plain signature).
Printed = tuple[str, str | None]
Shape = tuple[tuple[Printed, ...], bool] | None


class Lacked(NamedTuple):
    """A function that was read without its argument list: what decides how messages print it.

    `messages.pretty_callable` prints a signature whose definition is a
    function with a first argument's name before the signature's own
    arguments: with the list, the list's first name if the list is longer
    than the signature (a bound method); without it, the function's
    `original_first_arg` if it is a method and not static (`cache_first`).
    """

    name: str
    length: int  # The list's.
    cache_first: str | None
    memory_first: str
    # The signatures linked to it: its own, its decorated one, its overload item's.
    shapes: tuple[Shape, ...]

    def may_differ(self, printed: list[str] | None) -> bool:
        """Whether a signature of it printed (without the list) with these arguments (None: unknown) may
        read otherwise with the list.
        """
        if printed is None:
            return True
        if self.cache_first:
            # Printed as its first name, then the signature's arguments; with
            # the list that name comes only if the signature is shorter.
            if not printed or printed[0] != self.cache_first:
                return False
            return any(self._printed_whole(shape, printed[1:]) for shape in self.shapes)
        # With the list its first name comes before a shorter signature (bound as a method, a partial).
        return bool(self.memory_first) and len(printed) < self.length

    def _printed_whole(self, shape: Shape, arguments: list[str]) -> bool:
        """Whether these arguments can be a signature of this shape (bound or not) no shorter than the list."""
        if len(arguments) < self.length:
            return False
        if shape is None:
            return True
        names, whole = shape
        return any(
            (len(arguments) == len(leading) if whole else len(arguments) >= len(leading))
            and all(map(_printed_as, arguments, leading))
            for leading in (names, names[1:])
        )


def _printed_as(argument: str, expected: Printed) -> bool:
    """Whether a printed argument can be this one (no name: printed as its type alone)."""
    prefix, name = expected
    if not argument.startswith(prefix) or (prefix == "*" and argument.startswith("**")):
        return False
    head, colon, _ = argument[len(prefix) :].partition(": ")
    if name is None:
        return not (colon and head.isidentifier())
    return bool(colon) and head == name


def may_print_any(messages: Iterable[str], lacked: list[Lacked]) -> bool:
    """Whether these messages may print a signature of one of these functions that reads otherwise with its list.

    A signature is printed `def NAME(ARGUMENTS) -> ...`, after type
    variables too (`def [T] NAME(...)`), named after its definition when it
    has one (`def (...)`: none, so no list to read).  A printed signature
    whose name or arguments cannot be read counts as any function's.
    """
    by_name: dict[str, list[Lacked]] = {}
    for function in lacked:
        by_name.setdefault(function.name, []).append(function)
    if not by_name:
        return False
    for message in messages:
        for part in message.split("def ")[1:]:
            name, printed = _printed_signature(part)
            if name is None:
                return True
            if any(function.may_differ(printed) for function in by_name.get(name, [])):
                return True
    return False


def _printed_signature(text: str) -> tuple[str | None, list[str] | None]:
    """The name and the arguments of a signature printed as `text` after `def `.

    None for a name that cannot be read (then no arguments either), None for
    arguments that cannot.
    """
    if text.startswith("["):
        variables = _bracketed(text, 0)
        if variables is None or not text.startswith(" ", variables[0] + 1):
            return None, None
        text = text[variables[0] + 2 :]
    name, paren, _ = text.partition("(")
    if not paren or (name and not name.isidentifier()):
        return None, None
    return name, _arguments(text, len(name))


def _arguments(text: str, opening: int) -> list[str] | None:
    """The arguments printed between the parenthesis at `opening` and its match.

    The markers of keyword-only (`*`) and positional-only (`/`) arguments
    are not arguments.
    """
    found = _bracketed(text, opening)
    if found is None:
        return None
    closing, commas = found
    bounds = [opening, *commas, closing]
    items = [text[start + 1 : end].strip() for start, end in zip(bounds, bounds[1:])]
    return [item for item in items if item not in ("", "*", "/")]


def _bracketed(text: str, opening: int) -> tuple[int, list[int]] | None:
    """The index of the bracket that closes the one at `opening`, and of the commas directly inside
    (quoted text skipped); None if it is not closed.
    """
    depth = 0
    commas: list[int] = []
    position = opening
    while position < len(text):
        char = text[position]
        if char in "'\"":
            closing = _quote_end(text, position)
            if closing is None:
                return None
            position = closing
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
            if depth == 0:
                return position, commas
        elif char == "," and depth == 1:
            commas.append(position)
        position += 1
    return None


def _quote_end(text: str, opening: int) -> int | None:
    """The index of the quote that closes the one at `opening` (backslashes escape), None if none does."""
    quote = text[opening]
    position = opening + 1
    while position < len(text):
        if text[position] == "\\":
            position += 2
            continue
        if text[position] == quote:
            return position
        position += 1
    return None
