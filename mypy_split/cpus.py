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

from mypy_split.cgroups import tightest_limit


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
    return tightest_limit(root, "cpu", v1_quota, v2_quota)


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
