"""How much more memory this process tree may take: the machine's, and its control groups' limits.

The machine's is `MemAvailable` in `/proc/meminfo` (free memory plus what
the kernel can reclaim at once).  A container or CI job limited in memory
(`docker --memory`, a Kubernetes memory limit) sees its host's there; its
limit is its control group's (cgroup v2 `memory.max` less `memory.current`,
v1 `memory.limit_in_bytes` less `memory.usage_in_bytes`), on its own group
or any above it.  Outside Linux nothing is known (None).
"""

from __future__ import annotations

from pathlib import Path

from mypy_split.cgroups import tightest_limit

# cgroup v1 writes "no limit" as the largest page-aligned 63-bit number; anything this big is none.
NO_V1_LIMIT = 1 << 62


def available_memory(root: Path = Path("/")) -> int | None:
    """Bytes that may still be taken: the least of the machine's and each governing group's room."""
    rooms = [room for room in (machine_available(root), cgroup_room(root)) if room is not None]
    return min(rooms, default=None)


def machine_available(root: Path = Path("/")) -> int | None:
    """`MemAvailable` of `/proc/meminfo`, in bytes."""
    try:
        lines = (root / "proc/meminfo").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        name, _, value = line.partition(":")
        if name == "MemAvailable":
            fields = value.split()
            try:
                return int(fields[0]) * (1024 if fields[1:] == ["kB"] else 1)
            except (IndexError, ValueError):
                return None
    return None


def cgroup_room(root: Path = Path("/")) -> int | None:
    """The least room (limit less usage, in bytes) over this process's cgroups and their parents."""
    return tightest_limit(root, "memory", v1_room, v2_room)


def v2_room(folder: Path) -> int | None:
    """`memory.max` ("max" for none) less `memory.current`, but for the page cache the kernel drops first."""
    limit = read_number(folder / "memory.max")
    if limit is None:
        return None
    used = (read_number(folder / "memory.current") or 0) - stat_value(folder, "inactive_file")
    return max(0, limit - max(0, used))


def v1_room(folder: Path) -> int | None:
    """`memory.limit_in_bytes` less `memory.usage_in_bytes`, but for the page cache the kernel drops first."""
    limit = read_number(folder / "memory.limit_in_bytes")
    if limit is None or limit >= NO_V1_LIMIT:
        return None
    used = (read_number(folder / "memory.usage_in_bytes") or 0) - stat_value(folder, "total_inactive_file")
    return max(0, limit - max(0, used))


def stat_value(folder: Path, key: str) -> int:
    """One counter of the group's `memory.stat` (0 if absent).

    Usage counts the files read lately too; their inactive pages are what
    the kernel reclaims before it fails an allocation (the working set of
    `docker stats` and the kubelet leaves them out the same way).
    """
    try:
        lines = (folder / "memory.stat").read_text().splitlines()
    except OSError:
        return 0
    for line in lines:
        name, _, value = line.partition(" ")
        if name == key:
            try:
                return int(value)
            except ValueError:
                return 0
    return 0


def read_number(path: Path) -> int | None:
    """The integer a cgroup file holds; None for "max", a missing file or anything else."""
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None
