"""The argument parser of `dmypy-split`: `dmypy`'s subcommands and flags."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from mypy_split.daemon.status import DEFAULT_STATUS_FILE


class _WideHelp(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str, **kwargs: Any) -> None:
        super().__init__(prog=prog, max_help_position=30, **kwargs)


def build_parser(actions: dict[str, Callable[[argparse.Namespace], None]]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dmypy-split", description="Client for the mypy-split daemon", fromfile_prefix_chars="@"
    )
    parser.set_defaults(action=None, command=None)
    parser.add_argument("--status-file", default=DEFAULT_STATUS_FILE, help="Status file naming the daemon")
    parser.add_argument("-V", "--version", action="version", version=_version(), help="Show the version and exit")
    sub = parser.add_subparsers()

    def add(name: str, text: str, **kwargs: Any) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=text, **kwargs)
        p.set_defaults(action=actions[name], command=name)
        return p

    for name, text in (("start", "Start the daemon"), ("restart", "Stop the daemon if it runs, then start it")):
        p = add(name, text)
        _daemon_flags(p)
        p.add_argument("flags", metavar="FLAG", nargs="*", help="mypy flags (after --), -n N included")
    p = add("status", "Show the daemon's status")
    p.add_argument("-v", "--verbose", action="store_true", help="Print detailed status")
    p.add_argument("--fswatcher-dump-file", help="Write the watched files' state to this file")
    add("stop", "Ask the daemon to exit")
    add("kill", "Kill the daemon (and its workers)")
    p = add("check", "Check some files (the daemon must be running)", formatter_class=_WideHelp)
    _check_flags(p)
    p.add_argument("files", metavar="FILE", nargs="+", help="File or folder to check")
    p = add("run", "Check, starting or restarting the daemon as needed", formatter_class=_WideHelp)
    _check_flags(p)
    _daemon_flags(p)
    p.add_argument("flags", metavar="ARG", nargs="*", help="mypy flags and files (after --)")
    p = add("recheck", "Check the last files again, with changes (the daemon must be running)")
    _check_flags(p)
    p.add_argument("--update", metavar="FILE", nargs="*", help="Files added or changed (default: look at all)")
    p.add_argument("--remove", metavar="FILE", nargs="*", help="Files removed from the check")
    _suggest_parser(add("suggest", "Suggest a signature, or show the call sites, of a function"))
    _inspect_parser(add("inspect", "Show the type, attributes or definition of expressions"))
    p = add("daemon", "Serve in the foreground")
    _daemon_flags(p)
    p.add_argument("flags", metavar="FLAG", nargs="*", help="mypy flags (after --)")
    add("help", "Show this help")
    return parser


def _version() -> str:
    import mypy.version

    import mypy_split

    return f"dmypy-split {mypy_split.__version__} (engine: mypy {mypy.version.__version__})"


def _daemon_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--log-file", metavar="FILE", help="Send the daemon's stdout and stderr to FILE")
    p.add_argument("--timeout", metavar="TIMEOUT", type=int, help="Exit after this many idle seconds")


def _check_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-v", "--verbose", action="store_true", help="Print detailed status")
    p.add_argument("-q", "--quiet", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--junit-xml", help="Write a junit.xml file here")
    p.add_argument("--perf-stats-file", help="Write performance information here")
    p.add_argument(
        "--export-types", action="store_true", help="Keep the types of all expressions (for inspect)"
    )


def _suggest_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("function", metavar="FUNCTION", help="[package.]module.[class.]function")
    p.add_argument("--json", action="store_true", help="Answer in pyannotate's json")
    p.add_argument("--no-errors", action="store_true", help="Only suggestions that cause no errors")
    p.add_argument("--no-any", action="store_true", help="Only suggestions without Any")
    p.add_argument("--flex-any", type=float, help="Allow Any above this score (0 to 1)")
    p.add_argument("--callsites", action="store_true", help="Show call sites instead")
    p.add_argument("--use-fixme", metavar="NAME", help="Name to use instead of Any where nothing is inferred")
    p.add_argument("--max-guesses", type=int, help="Most types to try for a function (default 64)")


def _inspect_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("location", metavar="LOCATION", help="path/to/file.py:line:column[:end_line:end_column]")
    p.add_argument("--show", metavar="INSPECTION", default="type", choices=["type", "attrs", "definition"])
    p.add_argument("-v", "--verbose", action="count", default=0, help="More detailed types (repeatable)")
    p.add_argument("--limit", metavar="NUM", type=int, default=0, help="At most NUM innermost expressions")
    p.add_argument("--include-span", action="store_true", help="Prefix each answer with its span")
    p.add_argument("--include-kind", action="store_true", help="Prefix each answer with its expression kind")
    p.add_argument("--include-object-attrs", action="store_true", help='Include the attributes of "object"')
    p.add_argument("--union-attrs", action="store_true", help="Attributes of any union member, not all")
    p.add_argument("--force-reload", action="store_true", help="Parse and check the file again first")
