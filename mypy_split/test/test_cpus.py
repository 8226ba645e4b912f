"""How many CPUs a run may use: cgroup CPU quotas read from a made-up filesystem root."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

from mypy_split.cpus import cgroup_cpu_quota, usable_cpus


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def affinity() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def test_a_v2_quota_on_a_parent_group_limits_its_children(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "proc/self/cgroup": "0::/kubepods/pod1/box\n",
            "sys/fs/cgroup/kubepods/pod1/box/cpu.max": "max 100000\n",
            "sys/fs/cgroup/kubepods/pod1/cpu.max": "150000 100000\n",
            "sys/fs/cgroup/kubepods/cpu.max": "400000 100000\n",
        },
    )
    assert cgroup_cpu_quota(root) == 1.5
    assert usable_cpus(root) == min(affinity(), 2)


def test_a_v1_quota_of_the_cpu_controller(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "proc/self/cgroup": "5:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n0::/\n",
            "sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us": "300000\n",
            "sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us": "100000\n",
            "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us": "-1\n",
            "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us": "100000\n",
            "sys/fs/cgroup/memory/docker/abc/cpu.cfs_quota_us": "100000\n",
        },
    )
    assert cgroup_cpu_quota(root) == 3.0  # the memory controller's files are not read


def test_inside_a_container_the_mount_root_is_the_group(tmp_path: Path) -> None:
    """The path names the group from the host's root and leads nowhere in the container's mount."""
    root = write(
        tmp_path,
        {
            "proc/self/cgroup": "3:cpu:/docker/abc\n",
            "sys/fs/cgroup/cpu/cpu.cfs_quota_us": "50000\n",
            "sys/fs/cgroup/cpu/cpu.cfs_period_us": "100000\n",
        },
    )
    assert cgroup_cpu_quota(root) == 0.5
    assert usable_cpus(root) == 1  # half a CPU still runs one process


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
