"""The daemon process: one private socket, one request at a time.

Requests are served strictly in turn (a second client waits in the listen
backlog), so two clients at once are both answered.  The daemon ends on
`stop`, on SIGTERM, or after `--timeout` seconds without a request; each way
it removes its socket folder and its status file (if that still names it).
A crash while serving is reported to the client, then the daemon exits.
"""

from __future__ import annotations

import io
import os
import resource
import select
import signal
import socket
import sys
import traceback
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from typing import Any, NoReturn

import mypy.build
from mypy.find_sources import InvalidSourceList, create_source_list
from mypy.util import FancyFormatter

from mypy_split import engine
from mypy_split.daemon import transport
from mypy_split.daemon.options import StartOptions, parse_run_flags
from mypy_split.daemon.session import Reply, Session
from mypy_split.daemon.status import remove_status, write_status
from mypy_split.daemon.transport import TransportError
from mypy_split.daemon.version import DAEMON_VERSION


class Server:
    def __init__(self, start: StartOptions, status_file: str, timeout: int | None) -> None:
        self.start = start
        self.status_file = os.path.abspath(status_file)
        self.timeout = timeout
        # Made before detaching, while the client's terminal is still ours.
        formatter = FancyFormatter(sys.stdout, sys.stderr, start.options.hide_error_codes)
        self.session = Session(start, formatter)

    def serve(self) -> None:
        """Answer requests until told to stop or left idle."""
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
        engine.tune_process()
        folder = transport.socket_folder()
        listener = transport.listen(folder)
        listener.settimeout(self.timeout)
        pid = os.getpid()
        try:
            write_status(self.status_file, pid, os.path.join(folder, transport.SOCKET_NAME))
            while self.serve_one(listener):
                self.warm_up_while_idle(listener)
        finally:
            listener.close()
            remove_status(self.status_file, pid)
            transport.remove_folder(folder)
            if self.session.private_cache is not None:
                transport.remove_folder(self.session.private_cache)

    def warm_up_while_idle(self, listener: socket.socket) -> None:
        """Let the session load trees from its cache until a client connects."""
        while True:
            waiting, _, _ = select.select([listener], [], [], 0)
            if waiting or not self.session.warm_up():
                return

    def serve_one(self, listener: socket.socket) -> bool:
        """Answer one request; False when the daemon should end."""
        try:
            conn, _ = listener.accept()
        except socket.timeout:
            print("dmypy-split: idle timeout reached, exiting")
            return False
        with conn:
            conn.settimeout(None)
            try:
                request = transport.receive(conn)
            except (TransportError, OSError):
                return True
            command = request.pop("command", None)
            crashed = False
            try:
                reply = self.run_command(command, request)
            except Exception:
                reply = {"error": "Daemon crashed!\n" + traceback.format_exc()}
                crashed = True
            reply.update(self.metadata())
            try:
                transport.send(conn, reply)
            except OSError:
                pass  # The client went away; the next one is served all the same.
            if crashed:
                traceback.print_exc()
        return command != "stop" and not crashed

    def run_command(self, command: object, data: dict[str, Any]) -> Reply:
        if not isinstance(command, str):
            return {"error": "No command found in request" if command is None else "Command is not a string"}
        handler: Callable[..., Reply] | None = getattr(self, f"cmd_{command}", None)
        if handler is None:
            return {"error": f"Unrecognized command '{command}'"}
        if command not in ("check", "recheck", "run"):
            data.pop("is_tty", None)
            data.pop("terminal_width", None)
        stdout, stderr = io.StringIO(), io.StringIO()
        with redirect_stdout(stdout), redirect_stderr(stderr):
            reply = handler(**data)
        printed = stdout.getvalue()
        if printed:
            reply["stdout"] = reply.get("stdout", "") + printed
        if stderr.getvalue():
            reply["stderr"] = stderr.getvalue()
        return reply

    def metadata(self) -> dict[str, str]:
        options = self.start.options
        major, minor = options.python_version
        return {"platform": options.platform, "python_version": f"{major}_{minor}"}

    # The commands, each with the keyword arguments the client sends.

    def cmd_status(self, fswatcher_dump_file: str | None = None) -> Reply:
        if fswatcher_dump_file:
            import json

            with open(fswatcher_dump_file, "w") as f:
                json.dump(self.session.fswatcher.dump_file_data(), f)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return {"pid": os.getpid(), "workers": self.start.workers, "memory_maxrss_mib": usage.ru_maxrss / 1024}

    def cmd_stop(self) -> Reply:
        # Gone before the answer: a client reading it right after must not
        # find a daemon that is about to exit.
        remove_status(self.status_file, os.getpid())
        return {}

    def cmd_run(self, version: str, args: list[str], export_types: bool, is_tty: bool, terminal_width: int) -> Reply:
        session = self.session
        parsed = parse_run_flags(list(args), session.fscache)
        if parsed.reply is not None:
            return parsed.reply
        assert parsed.options is not None
        if not parsed.options.compare_stable(self.start.snapshot):
            return {"restart": "configuration changed"}
        if version != DAEMON_VERSION:
            return {"restart": "mypy-split version changed"}
        if session.fine_grained is not None:
            manager = session.fine_grained.manager
            _, plugins = mypy.build.load_plugins(parsed.options, manager.errors, sys.stdout, [])
            if plugins != manager.plugins_snapshot:
                return {"restart": "plugins changed"}
        return session.check(parsed.sources, export_types, is_tty, terminal_width)

    def cmd_check(self, files: list[str], export_types: bool, is_tty: bool, terminal_width: int) -> Reply:
        try:
            sources = create_source_list(files, self.start.options, self.session.fscache)
        except InvalidSourceList as error:
            return {"out": "", "err": str(error), "status": 2}
        return self.session.check(sources, export_types, is_tty, terminal_width)

    def cmd_recheck(
        self,
        is_tty: bool,
        terminal_width: int,
        export_types: bool,
        remove: list[str] | None = None,
        update: list[str] | None = None,
    ) -> Reply:
        return self.session.recheck(remove, update, export_types, is_tty, terminal_width)

    def cmd_suggest(self, function: str, callsites: bool, **kwargs: Any) -> Reply:
        from mypy_split.daemon.tools import suggest

        return suggest(self.session, function, callsites, kwargs)

    def cmd_inspect(self, show: str, location: str, **kwargs: Any) -> Reply:
        from mypy_split.daemon.tools import inspect

        return inspect(self.session, show, location, kwargs)


def _exit_on_sigterm(signum: int, frame: object) -> NoReturn:
    # Unwinds through serve()'s cleanup.
    sys.exit(0)


def daemonize(run: Callable[[], None], log_file: str | None) -> int:
    """Run `run` in a detached grandchild; the exit status of the middle child.

    The grandchild has its own session and process group (so `kill` reaches
    the workers it starts too), no terminal, and the log file (or nothing) as
    its stdout and stderr.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    child = os.fork()
    if child:
        _, status = os.waitpid(child, 0)
        if os.WIFSIGNALED(status):
            print("Child killed by signal", os.WTERMSIG(status))
            return -os.WTERMSIG(status)
        code = os.WEXITSTATUS(status)
        if code:
            print("Child exit status", code)
        return code
    try:
        os.setsid()
        os.umask(0o077)
        _redirect_standard_streams(None)
        if os.fork():
            os._exit(0)
        # Its own process group: `kill` signals the group, workers included.
        os.setpgid(0, 0)
        _redirect_standard_streams(log_file)
        run()
        os._exit(0)
    except SystemExit as stop:
        os._exit(stop.code if isinstance(stop.code, int) else 0)
    except BaseException:
        traceback.print_exc()
    finally:
        # Never return into the client's code from a forked process.
        os._exit(1)


def _redirect_standard_streams(log_file: str | None) -> None:
    target = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600) if log_file else os.open(os.devnull, os.O_RDWR)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(target, 1)
    os.dup2(target, 2)
    os.close(devnull)
    os.close(target)
    if log_file:
        sys.stdout = sys.stderr = open(1, "w", buffering=1, closefd=False)
