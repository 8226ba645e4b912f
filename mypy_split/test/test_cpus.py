"""How many CPUs a run may use: cgroup CPU quotas read from a made-up filesystem root."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

from mypy_split.cpus import cgroup_cpu_quota, usable_cpus
from mypy_split.test.fake_root import write_files as write


def affinity() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


# Each: the files, the quota found (in CPUs), the usable count on a machine with plenty of CPUs.
QUOTAS = {
    "a v2 quota on a parent group limits its children": (
        {
            "proc/self/cgroup": "0::/kubepods/pod1/box\n",
            "sys/fs/cgroup/kubepods/pod1/box/cpu.max": "max 100000\n",
            "sys/fs/cgroup/kubepods/pod1/cpu.max": "150000 100000\n",
            "sys/fs/cgroup/kubepods/cpu.max": "400000 100000\n",
        },
        1.5,
        2,
    ),
    "a v1 quota of the cpu controller, not of another": (
        {
            "proc/self/cgroup": "5:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n0::/\n",
            "sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us": "300000\n",
            "sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us": "100000\n",
            "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us": "-1\n",
            "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us": "100000\n",
            "sys/fs/cgroup/memory/docker/abc/cpu.cfs_quota_us": "100000\n",
        },
        3.0,
        3,
    ),
    # The path names the group from the host's root and leads nowhere in a container's mount.
    "inside a container the mount's root is the group; half a CPU still runs one process": (
        {
            "proc/self/cgroup": "3:cpu:/docker/abc\n",
            "sys/fs/cgroup/cpu/cpu.cfs_quota_us": "50000\n",
            "sys/fs/cgroup/cpu/cpu.cfs_period_us": "100000\n",
        },
        0.5,
        1,
    ),
}


@pytest.mark.parametrize(("files", "quota", "cpus"), QUOTAS.values(), ids=QUOTAS.keys())
def test_a_cgroup_quota_limits_the_cpus(tmp_path: Path, files: dict[str, str], quota: float, cpus: int) -> None:
    root = write(tmp_path, files)
    assert cgroup_cpu_quota(root) == quota
    assert usable_cpus(root) == min(affinity(), cpus)


@pytest.mark.parametrize(
    "files",
    [
        {},  # no /proc
        {"proc/self/cgroup": "0::/\n"},  # a group with no cpu.max (the root)
        {"proc/self/cgroup": "0::/a\n", "sys/fs/cgroup/a/cpu.max": "max 100000\n"},
        {"proc/self/cgroup": "0::/a\n", "sys/fs/cgroup/a/cpu.max": "garbage\n"},
        {"proc/self/cgroup": "0::/a\n", "sys/fs/cgroup/a/cpu.max": "100000 0\n"},
        {"proc/self/cgroup": "not a membership line\n"},
        {
            "proc/self/cgroup": "2:cpu:/\n",
            "sys/fs/cgroup/cpu/cpu.cfs_quota_us": "-1\n",
            "sys/fs/cgroup/cpu/cpu.cfs_period_us": "100000\n",
        },
    ],
)
def test_no_quota_leaves_the_affinity(tmp_path: Path, files: dict[str, str]) -> None:
    root = write(tmp_path, files)
    assert cgroup_cpu_quota(root) is None
    assert usable_cpus(root) == affinity()


def test_a_quota_above_the_affinity_changes_nothing(tmp_path: Path) -> None:
    cpus = affinity()
    root = write(tmp_path, {"proc/self/cgroup": "0::/a\n", "sys/fs/cgroup/a/cpu.max": f"{(cpus + 3) * 100000} 100000"})
    assert cgroup_cpu_quota(root) == cpus + 3
    assert usable_cpus(root) == cpus
    assert math.ceil(cgroup_cpu_quota(root) or 0) > usable_cpus(root)
