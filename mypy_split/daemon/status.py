"""The status file: where a running daemon says who it is and where to reach it.

It holds the daemon's pid and the path of its socket.  A file whose process
is gone is stale: readers report it as such, and a new daemon replaces it.
"""

from __future__ import annotations

import json
import os
import signal
from dataclasses import dataclass

DEFAULT_STATUS_FILE = ".dmypy-split.json"


class BadStatus(Exception):
    """The status file is missing, malformed, or names a dead daemon."""


@dataclass(frozen=True)
class DaemonStatus:
    pid: int
    socket_path: str


def read_raw(status_file: str) -> dict[str, object]:
    if not os.path.isfile(status_file):
        raise BadStatus("No status file found")
    try:
        with open(status_file, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as error:
        raise BadStatus(f"Malformed status file: {error}") from error
    if not isinstance(data, dict):
        raise BadStatus(f"Invalid status file (not a dict): {data}")
    return data


def read_status(status_file: str) -> DaemonStatus:
    """The live daemon the file names; BadStatus if there is none."""
    data = read_raw(status_file)
    pid = data.get("pid")
    if pid is None:
        raise BadStatus("Invalid status file (no pid field)")
    if not isinstance(pid, int):
        raise BadStatus("pid field is not an int")
    if not alive(pid):
        raise BadStatus("Daemon has died")
    socket_path = data.get("socket")
    if socket_path is None:
        raise BadStatus("Invalid status file (no socket field)")
    if not isinstance(socket_path, str):
        raise BadStatus("socket field is not a string")
    return DaemonStatus(pid, socket_path)


def is_running(status_file: str) -> bool:
    try:
        read_status(status_file)
    except BadStatus:
        return False
    return True


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        # Someone else's process reuses the pid: not our daemon.
        return False
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    """A daemon that exited but is not reaped yet (Linux only; elsewhere assume not)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            fields = f.read().rsplit(")", 1)[-1].split()
    except OSError:
        return False
    return bool(fields) and fields[0] == "Z"


def write_status(status_file: str, pid: int, socket_path: str) -> None:
    """Write the file atomically, readable by its owner only."""
    tmp = f"{status_file}.{pid}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump({"pid": pid, "socket": socket_path}, f)
        f.write("\n")
    os.replace(tmp, status_file)


def remove_status(status_file: str, pid: int) -> None:
    """Remove the file if it still names `pid` (a newer daemon may own it now)."""
    try:
        data = read_raw(status_file)
    except BadStatus:
        return
    if data.get("pid") == pid:
        try:
            os.unlink(status_file)
        except OSError:
            pass


def kill_daemon(pid: int) -> None:
    """SIGKILL the daemon and everything in its process group (its workers)."""
    try:
        group = os.getpgid(pid)
    except ProcessLookupError:
        group = -1
    if group == pid:
        os.killpg(group, signal.SIGKILL)
    else:
        os.kill(pid, signal.SIGKILL)
