"""How many CPUs this process may keep busy at once: its affinity, and a cgroup's CPU quota.

A container or CI runner limited to two CPUs' worth of time (`docker --cpus=2`,
a Kubernetes CPU limit) still shows every CPU of its host in the affinity mask;
the limit is the quota of its control group (cgroup v2 `cpu.max`, v1
`cpu.cfs_quota_us` over `cpu.cfs_period_us`), on its own group or any above it.
"""

from __future__ import annotations

import math
import os
from pathlib import Path


def usable_cpus(root: Path = Path("/")) -> int:
    """The CPUs of the affinity mask, fewer where a cgroup quota allows less time (at least 1)."""
    if hasattr(os, "sched_getaffinity"):
        count = len(os.sched_getaffinity(0))
    else:
        count = os.cpu_count() or 1
    quota = cgroup_cpu_quota(root)
    if quota is not None:
        count = min(count, max(1, math.ceil(quota)))
    return max(1, count)


def cgroup_cpu_quota(root: Path = Path("/")) -> float | None:
    """The smallest CPU quota (in CPUs) over this process's cgroups and their parents; None if none is set."""
    try:
        memberships = (root / "proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    quotas: list[float] = []
    for line in memberships:
        fields = line.split(":", 2)
        if len(fields) != 3:
            continue
        _, controllers, path = fields
        if controllers == "":
            for mount in (root / "sys/fs/cgroup", root / "sys/fs/cgroup/unified"):
                quotas += [q for folder in groups(mount, path) if (q := v2_quota(folder)) is not None]
        elif "cpu" in controllers.split(","):
            for mount in (root / "sys/fs/cgroup" / controllers, root / "sys/fs/cgroup/cpu"):
                quotas += [q for folder in groups(mount, path) if (q := v1_quota(folder)) is not None]
    return min(quotas, default=None)


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


def v2_quota(folder: Path) -> float | None:
    """`cpu.max`: "QUOTA PERIOD" in microseconds, or "max PERIOD" for none."""
    try:
        quota, period = (folder / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError, ZeroDivisionError):
        return None


def v1_quota(folder: Path) -> float | None:
    """`cpu.cfs_quota_us` over `cpu.cfs_period_us`; a quota of -1 means none."""
    try:
        quota = int((folder / "cpu.cfs_quota_us").read_text())
        period = int((folder / "cpu.cfs_period_us").read_text())
        return None if quota <= 0 else quota / period
    except (OSError, ValueError, ZeroDivisionError):
        return None
