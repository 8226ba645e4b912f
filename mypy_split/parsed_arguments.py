"""The coordinator's parsed command line, kept for the workers forked from it.

A worker builds the coordinator's options from the same argument list, as
mypy's command line would (config files and environment read the same way).
Most of that cost is finding the sources of `-p` and `-m` arguments on
disk: 35-65 ms here on the mypy self-check, per worker, and the first
worker's share of it delays the builtins cycle every cold run waits for.
A worker forked from the coordinator already holds the answer in its
memory, so the coordinator keeps a pristine copy of what it parsed, taken
before anything changed it, and a forked worker starts from that copy when
its argument list and folder are the ones it was made from.  A fresh
interpreter, or a worker forked where no copy matches, parses the arguments
itself.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from mypy.modulefinder import BuildSource
from mypy.options import Options


@dataclass(frozen=True)
class ParsedArguments:
    argv: tuple[str, ...]
    cwd: str
    sources: tuple[BuildSource, ...]
    options: Options


_kept: ParsedArguments | None = None


def keep(argv: list[str], cwd: str, sources: list[BuildSource], options: Options) -> None:
    """Remember what `argv` parsed to in `cwd`; call right after parsing, before options change."""
    global _kept
    try:
        pristine = copy.deepcopy(options)
    except Exception:
        # Something in them that cannot be copied (set through mypy's API, say):
        # workers parse the arguments themselves, as they always could.
        _kept = None
        return
    _kept = ParsedArguments(tuple(argv), cwd, tuple(sources), pristine)


def take(argv: list[str], cwd: str) -> tuple[list[BuildSource], Options] | None:
    """A private copy of what `argv` parsed to in `cwd`, if this process holds it, else None."""
    kept = _kept
    if kept is None or kept.argv != tuple(argv) or kept.cwd != cwd:
        return None
    return list(kept.sources), copy.deepcopy(kept.options)


def forget() -> None:
    global _kept
    _kept = None
