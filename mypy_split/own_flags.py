"""Our own command-line flags, taken out of argv before mypy's parser sees it.

mypy's parser rejects what it does not know, so flags that only mypy-split
understands are split off first; everything else (mypy's `-O/--output json`
included) reaches `process_options` untouched and in order.

To add a flag: a field on `OwnFlags`, and one entry in `_SWITCHES` (no
argument) or `_WITH_VALUE` (one argument, as `--flag VALUE` or `--flag=VALUE`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

# The values of mypy's `-O/--output` that are ours rather than mypy's.
OWN_OUTPUT_FORMATS = ("github",)


class OwnFlags(NamedTuple):
    """What our own flags asked for; the defaults are what no flag means."""

    # "github" for GitHub Actions workflow commands; None leaves output to mypy.
    output: str | None = None
    # Show the progress line on stderr when it is a terminal.
    progress: bool = True
    # Write a Chrome trace-event file of the build here.
    trace: str | None = None
    # Print a short summary of where the time went on stderr.
    stats: bool = False


class OwnFlagError(Exception):
    """A flag of ours without its value; the message says which, in argparse's words."""


Update = Callable[[OwnFlags], OwnFlags]


class ValueFlag(NamedTuple):
    """A flag with one value.  `apply` returns None for a value that is not ours."""

    apply: Callable[[OwnFlags, str], OwnFlags | None]
    # mypy has a flag of this name too: values not ours, and a missing value,
    # are left for mypy's parser (which then answers in its own words).
    shared_with_mypy: bool = False


_SWITCHES: dict[str, Update] = {
    "--progress": lambda flags: flags._replace(progress=True),
    "--no-progress": lambda flags: flags._replace(progress=False),
    "--stats": lambda flags: flags._replace(stats=True),
}

_WITH_VALUE: dict[str, ValueFlag] = {
    "--output": ValueFlag(
        lambda flags, value: (
            flags._replace(output=value) if value in OWN_OUTPUT_FORMATS else None
        ),
        shared_with_mypy=True,
    ),
    "--trace": ValueFlag(lambda flags, value: flags._replace(trace=value)),
}
_SHORT_ALIASES = {"-O": "--output"}

# mypy's flags whose next argument is program text, never a flag of ours.
_TAKES_TEXT = frozenset({"-c", "--command"})


def split_own_flags(argv: list[str]) -> tuple[OwnFlags, list[str]]:
    """Our flags, and the arguments left for mypy (in their order).

    Scanning stops at `--` (what follows is file names), and the argument
    after `-c`/`--command` is program text, never a flag.  OwnFlagError for
    a flag of ours whose value is missing.
    """
    flags = OwnFlags()
    rest: list[str] = []
    index = 0
    while index < len(argv):
        arg = argv[index]
        if arg == "--":
            rest.extend(argv[index:])
            break
        if arg in _TAKES_TEXT:
            rest.extend(argv[index : index + 2])
            index += 2
            continue
        if arg in _SWITCHES:
            flags = _SWITCHES[arg](flags)
            index += 1
            continue
        found = _flag_with_value(argv, index)
        if found is not None:
            name, value, used = found
            updated = _WITH_VALUE[name].apply(flags, value)
            if updated is not None:
                flags = updated
                index += used
                continue
        rest.append(arg)
        index += 1
    return flags, rest


def _flag_with_value(argv: list[str], index: int) -> tuple[str, str, int] | None:
    """(flag name, value, arguments used) if argv[index] is a flag of ours with a value."""
    arg = argv[index]
    name = _SHORT_ALIASES.get(arg, arg)
    if name in _WITH_VALUE:
        if index + 1 < len(argv):
            return name, argv[index + 1], 2
        if _WITH_VALUE[name].shared_with_mypy:
            return None
        raise OwnFlagError(f"argument {name}: expected one argument")
    flag, equals, value = arg.partition("=")
    if equals and flag in _WITH_VALUE and flag.startswith("--"):
        return flag, value, 1
    for short, long_name in _SHORT_ALIASES.items():
        # `-Ogithub`, as argparse accepts for short options.
        if arg.startswith(short) and len(arg) > len(short) and not equals:
            return long_name, arg[len(short) :], 1
    return None
