"""Which control-group folders govern this process, for one controller (cgroup v1 or v2).

A limit set on a group applies to every group below it, so each reader
(`cpus.py`, `memory.py`) takes the tightest over the group and its parents.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

# A limit's value: CPUs (a float) or bytes (an int).
Limit = TypeVar("Limit", int, float)


def tightest_limit(
    root: Path, controller: str, read_v1: Callable[[Path], Limit | None], read_v2: Callable[[Path], Limit | None]
) -> Limit | None:
    """The least value the reader of each group's version finds over the governing groups; None if none."""
    found = [
        limit
        for version, folder in governing_groups(root, controller)
        if (limit := read_v2(folder) if version == 2 else read_v1(folder)) is not None
    ]
    return min(found, default=None)


def governing_groups(root: Path, controller: str) -> Iterator[tuple[int, Path]]:
    """(cgroup version, folder) of each group that may limit `controller` here, nearest first.

    Read from `/proc/self/cgroup` under `root`: the unified (v2) hierarchy,
    and the v1 hierarchy that holds the controller.
    """
    try:
        memberships = (root / "proc/self/cgroup").read_text().splitlines()
    except OSError:
        return
    for line in memberships:
        fields = line.split(":", 2)
        if len(fields) != 3:
            continue
        _, controllers, path = fields
        if controllers == "":
            for mount in (root / "sys/fs/cgroup", root / "sys/fs/cgroup/unified"):
                yield from ((2, folder) for folder in groups(mount, path))
        elif controller in controllers.split(","):
            for mount in (root / "sys/fs/cgroup" / controllers, root / "sys/fs/cgroup" / controller):
                yield from ((1, folder) for folder in groups(mount, path))


def groups(mount: Path, path: str) -> list[Path]:
    """The group's folder under the mount and each parent up to the mount itself.

    Inside a container the mount's root is often the container's own group
    while the path names it from the host's root: the path then leads nowhere,
    and the mount's root is the group.
    """
    if not mount.is_dir():
        return []
    folder = mount / path.strip("/")
    if not folder.is_dir():
        return [mount]
    found = [folder]
    while folder != mount:
        folder = folder.parent
        found.append(folder)
    return found
