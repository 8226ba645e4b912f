"""The processes of a run, read from /proc: which are its workers, and which are left after it (Linux)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from mypy_split.worker_process import WORKER_NAME
from mypy_split.worker_seed import SEED_NAME

# What a spawned worker's command line holds (a forked one shares its coordinator's).
WORKER_MARK = "mypy_split.build_worker"


@dataclass(frozen=True)
class ProcInfo:
    pid: int
    state: str
    ppid: int
    cmdline: str
    cwd: str
    # The command name (`/proc/PID/comm`): a forked worker shares its coordinator's command line.
    name: str = ""


def proc_info(pid: int) -> ProcInfo | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat_file:
            stat = stat_file.read().decode(errors="replace")
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline_file:
            cmdline = cmdline_file.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return None
    try:
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        cwd = ""
    # The command name (in parentheses) may hold spaces: split after its end.
    fields = stat[stat.rindex(")") + 2 :].split()
    name = stat[stat.index("(") + 1 : stat.rindex(")")]
    return ProcInfo(pid, fields[0], int(fields[1]), cmdline.strip(), cwd, name)


def all_processes() -> Iterator[ProcInfo]:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            info = proc_info(int(entry))
            if info is not None:
                yield info


def children_of(pid: int) -> list[int]:
    """Child pids, from /proc/PID/task/*/children (a scan of /proc where that is missing)."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    children: list[int] = []
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as listing:
                children.extend(int(child) for child in listing.read().split())
        except FileNotFoundError:
            return [info.pid for info in all_processes() if info.ppid == pid]
        except OSError:
            continue
    return children


def workers_of(coordinator: int) -> list[ProcInfo]:
    """The coordinator's live worker processes: its children running the worker, and those its seed
    forked and has not yet handed over (worker_seed.py)."""
    found = []
    for pid in children_of(coordinator):
        info = proc_info(pid)
        if info is None or info.state == "Z":
            continue
        if is_worker(info):
            found.append(info)
        elif info.name == SEED_NAME:
            found.extend(workers_of(pid))
    return found


def is_worker(info: ProcInfo) -> bool:
    """Started as a fresh interpreter (its command line says so), or named so once forked."""
    return WORKER_MARK in info.cmdline or info.name == WORKER_NAME


def leftovers(project: Path) -> list[ProcInfo]:
    """Live processes of a run: the coordinator, or any process working in its project.

    Workers inherit the coordinator's current folder, and every test has a
    project folder of its own, so this finds a run's processes and only them
    (a process group could outlive its leader and see its number reused).
    """
    folder = str(project)
    return [
        info
        for info in all_processes()
        if info.state != "Z"
        and info.pid != os.getpid()
        and (info.cwd == folder or info.cwd.startswith(folder + os.sep))
    ]


def describe(processes: list[ProcInfo]) -> str:
    return "\n".join(f"  pid {p.pid} ({p.state}) cwd={p.cwd}: {p.cmdline[:120]}" for p in processes)
