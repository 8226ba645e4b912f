"""`dmypy-split`: the client command, with the subcommands and flags of `dmypy`.

Each subcommand is a function that talks to the daemon named by the status
file and prints its answer as `dmypy` prints it (output, then exit code).
Subcommands that start a daemon fork it from here (see `server.daemonize`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

from mypy.util import get_terminal_width, should_force_color

from mypy_split.daemon import transport
from mypy_split.daemon.status import (
    BadStatus,
    alive,
    is_running,
    kill_daemon,
    read_raw,
    read_status,
)

Action = Callable[[argparse.Namespace], None]


def fail(message: str) -> NoReturn:
    print(message, file=sys.stderr)
    sys.exit(2)


# Requests that must answer soon even when the daemon is busy.
_QUICK_TIMEOUT = 5.0


def request(status_file: str, command: str, *, timeout: float | None = None, **fields: Any) -> dict[str, Any]:
    """Send one request and return the reply; {"error": ...} if the exchange failed."""
    status = read_status(status_file)
    message = dict(fields, command=command)
    # The daemon formats for the terminal the user is looking at.
    message["is_tty"] = sys.stdout.isatty() or should_force_color()
    message["terminal_width"] = get_terminal_width()
    try:
        conn = transport.connect(status.socket_path, timeout)
        with conn:
            transport.send(conn, message)
            reply = transport.receive(conn)
    except OSError as error:
        return {"error": str(error)}
    # What the daemon printed while serving (not the check's lines): show it first.
    for key, stream in (("stdout", sys.stdout), ("stderr", sys.stderr)):
        text = reply.pop(key, None)
        if text:
            stream.write(text)
    return reply


def show_check_output(reply: dict[str, Any], verbose: bool, junit_xml: str | None, perf_stats_file: str | None) -> None:
    """Print a check's answer and exit with its status (returns only on 0)."""
    if "error" in reply:
        fail(reply["error"])
    try:
        out, err, status = reply["out"], reply["err"], reply["status"]
    except KeyError:
        fail(f"Response: {reply}")
    sys.stdout.write(out)
    sys.stdout.flush()
    sys.stderr.write(err)
    sys.stderr.flush()
    if verbose:
        show_stats(reply)
    if junit_xml:
        from mypy.util import write_junit_xml

        lines = (out + err).splitlines()
        write_junit_xml(
            reply["roundtrip_time"],
            bool(err),
            {None: lines} if lines else {},
            junit_xml,
            reply["python_version"],
            reply["platform"],
        )
    if perf_stats_file:
        with open(perf_stats_file, "w") as f:
            json.dump(reply.get("stats", {}), f)
    if status:
        sys.exit(status)


def show_stats(reply: Mapping[str, object]) -> None:
    for key, value in sorted(reply.items()):
        if key in ("out", "err", "stdout", "stderr"):
            text = repr(value)[1:-1]
            if len(text) > 50:
                text = f"{text[:40]} ... {len(text) - 40} more characters"
            print(f"{key:<24}: {text}")
        else:
            shown = f"{value:.3f}" if isinstance(value, float) else value
            print(f"{key:<24}: {shown!s:>10}")


# Starting a daemon.


def start_server(args: argparse.Namespace) -> None:
    """Fork a daemon for `args.flags` and wait until it answers."""
    from mypy_split.daemon.options import start_options
    from mypy_split.daemon.server import Server, daemonize

    if not hasattr(os, "fork"):
        fail("dmypy-split: starting a daemon needs fork(); not supported on this platform")
    start = start_options(list(args.flags))
    # Any file left here names a dead daemon (callers checked): replace it.
    if os.path.isfile(args.status_file):
        remove_stale_socket(args.status_file)
        os.unlink(args.status_file)
    server = Server(start, args.status_file, args.timeout)
    if daemonize(server.serve, args.log_file):
        sys.exit(2)
    wait_for_server(args.status_file)


def remove_stale_socket(status_file: str) -> None:
    """The socket folder of a daemon that died without tidying up (killed, say)."""
    try:
        socket_path = read_raw(status_file).get("socket")
    except BadStatus:
        return
    if isinstance(socket_path, str):
        transport.remove_socket_folder(socket_path)


def wait_for_server(status_file: str, timeout: float = 5.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            read_raw(status_file)
        except BadStatus:
            time.sleep(0.05)
            continue
        read_status(status_file)
        print("Daemon started")
        return
    fail("Timed out waiting for daemon to start")


def restart_server(args: argparse.Namespace) -> None:
    try:
        do_stop(args)
    except BadStatus:
        pass  # Nothing (alive) to stop.
    start_server(args)


# The subcommands.


def do_start(args: argparse.Namespace) -> None:
    if is_running(args.status_file):
        fail("Daemon is still alive")
    start_server(args)


def do_restart(args: argparse.Namespace) -> None:
    restart_server(args)


def do_status(args: argparse.Namespace) -> None:
    raw = read_raw(args.status_file)
    if args.verbose:
        show_stats(raw)
    read_status(args.status_file)
    reply = request(args.status_file, "status", fswatcher_dump_file=args.fswatcher_dump_file, timeout=_QUICK_TIMEOUT)
    if args.verbose or "error" in reply:
        show_stats(reply)
    if "error" in reply:
        fail(f"Daemon may be busy processing; if this persists, consider {sys.argv[0]} kill")
    print("Daemon is up and running")


def do_stop(args: argparse.Namespace) -> None:
    pid = read_status(args.status_file).pid
    reply = request(args.status_file, "stop", timeout=_QUICK_TIMEOUT)
    if "error" in reply:
        show_stats(reply)
        fail(f"Daemon may be busy processing; if this persists, consider {sys.argv[0]} kill")
    wait_for_exit(pid)
    print("Daemon stopped")


def wait_for_exit(pid: int, timeout: float = 10.0) -> None:
    """Give a stopping daemon a moment to finish its cleanup (and its workers)."""
    deadline = time.time() + timeout
    while alive(pid) and time.time() < deadline:
        time.sleep(0.02)


def do_kill(args: argparse.Namespace) -> None:
    status = read_status(args.status_file)
    try:
        kill_daemon(status.pid)
    except OSError as error:
        fail(str(error))
    # The daemon cannot clean up after SIGKILL: its status file and socket go here.
    if os.path.isfile(args.status_file):
        os.unlink(args.status_file)
    transport.remove_socket_folder(status.socket_path)
    print("Daemon killed")


def do_check(args: argparse.Namespace) -> None:
    started = time.time()
    reply = request(args.status_file, "check", files=args.files, export_types=args.export_types)
    reply["roundtrip_time"] = time.time() - started
    show_check_output(reply, args.verbose, args.junit_xml, args.perf_stats_file)


def do_run(args: argparse.Namespace) -> None:
    from mypy_split.daemon.version import DAEMON_VERSION

    if not is_running(args.status_file):
        start_server(args)
    started = time.time()
    fields = {"version": DAEMON_VERSION, "args": args.flags, "export_types": args.export_types}
    reply = request(args.status_file, "run", **fields)
    if "restart" in reply:
        print(f"Restarting: {reply['restart']}")
        restart_server(args)
        reply = request(args.status_file, "run", **fields)
    reply["roundtrip_time"] = time.time() - started
    show_check_output(reply, args.verbose, args.junit_xml, args.perf_stats_file)


def do_recheck(args: argparse.Namespace) -> None:
    started = time.time()
    fields: dict[str, Any] = {"export_types": args.export_types}
    if args.remove is not None or args.update is not None:
        fields.update(remove=args.remove, update=args.update)
    reply = request(args.status_file, "recheck", **fields)
    reply["roundtrip_time"] = time.time() - started
    show_check_output(reply, args.verbose, args.junit_xml, args.perf_stats_file)


def do_suggest(args: argparse.Namespace) -> None:
    reply = request(
        args.status_file,
        "suggest",
        function=args.function,
        json=args.json,
        callsites=args.callsites,
        no_errors=args.no_errors,
        no_any=args.no_any,
        flex_any=args.flex_any,
        use_fixme=args.use_fixme,
        max_guesses=args.max_guesses,
    )
    show_check_output(reply, False, None, None)


def do_inspect(args: argparse.Namespace) -> None:
    reply = request(
        args.status_file,
        "inspect",
        show=args.show,
        location=args.location,
        verbosity=args.verbose,
        limit=args.limit,
        include_span=args.include_span,
        include_kind=args.include_kind,
        include_object_attrs=args.include_object_attrs,
        union_attrs=args.union_attrs,
        force_reload=args.force_reload,
    )
    show_check_output(reply, False, None, None)


def do_daemon(args: argparse.Namespace) -> None:
    """Serve in the foreground (no fork), logging to the log file if given."""
    from mypy_split.daemon.options import start_options
    from mypy_split.daemon.server import Server

    if args.log_file:
        log = open(args.log_file, "a", buffering=1)
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        sys.stdout = sys.stderr = log
    Server(start_options(list(args.flags)), args.status_file, args.timeout).serve()


def main(argv: list[str]) -> None:
    from mypy_split.daemon.arguments import build_parser

    parser = build_parser(ACTIONS)
    args = parser.parse_args(argv)
    action: Action | None = getattr(args, "action", None)
    if action is None:
        parser.print_usage()
        return
    if args.command == "help":
        parser.print_help()
        return
    try:
        action(args)
    except BadStatus as error:
        fail(str(error))


ACTIONS: dict[str, Action] = {
    "start": do_start,
    "restart": do_restart,
    "status": do_status,
    "stop": do_stop,
    "kill": do_kill,
    "check": do_check,
    "run": do_run,
    "recheck": do_recheck,
    "suggest": do_suggest,
    "inspect": do_inspect,
    "daemon": do_daemon,
    "help": lambda args: None,
}


def console_entry() -> None:
    try:
        main(sys.argv[1:])
    except KeyboardInterrupt:
        sys.exit(2)
    except SystemExit:
        raise
    except Exception:
        import traceback

        traceback.print_exc()
        sys.exit(2)
