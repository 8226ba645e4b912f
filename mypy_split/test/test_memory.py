"""How much memory a run may still take: /proc/meminfo and cgroup limits read from a made-up root."""

from __future__ import annotations

from pathlib import Path

import pytest

from mypy_split import memory
from mypy_split.memory import available_memory, cgroup_room, machine_available
from mypy_split.test.fake_root import write_files
from mypy_split.tuning import AVAILABLE_MEMORY_VARIABLE
from mypy_split.tuning import available_memory as run_memory

MiB = 1 << 20
MEMINFO = "MemTotal:       24576000 kB\nMemFree:         1000000 kB\nMemAvailable:   20480000 kB\n"
MACHINE = 20480000 * 1024

# Each: the files besides /proc/meminfo, the cgroups' room, and the room left overall.
LIMITS = {
    "a v2 limit on a parent group, the tightest room of the chain": (
        {
            "proc/self/cgroup": "0::/kubepods/pod1/box\n",
            "sys/fs/cgroup/kubepods/pod1/box/memory.max": "max\n",
            "sys/fs/cgroup/kubepods/pod1/box/memory.current": f"{300 * MiB}\n",
            "sys/fs/cgroup/kubepods/pod1/memory.max": f"{2048 * MiB}\n",
            "sys/fs/cgroup/kubepods/pod1/memory.current": f"{1536 * MiB}\n",
            # Files read lately count in the usage; their inactive pages are dropped first.
            "sys/fs/cgroup/kubepods/pod1/memory.stat": f"anon {1200 * MiB}\ninactive_file {100 * MiB}\n",
            "sys/fs/cgroup/kubepods/memory.max": f"{4096 * MiB}\n",
            "sys/fs/cgroup/kubepods/memory.current": f"{1600 * MiB}\n",
        },
        612 * MiB,
        612 * MiB,
    ),
    "a v1 limit of the memory controller, not of another": (
        {
            "proc/self/cgroup": "5:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n0::/\n",
            "sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes": f"{1024 * MiB}\n",
            "sys/fs/cgroup/memory/docker/abc/memory.usage_in_bytes": f"{256 * MiB}\n",
            "sys/fs/cgroup/memory/docker/abc/memory.stat": (
                f"cache {80 * MiB}\ninactive_file {6 * MiB}\ntotal_inactive_file {56 * MiB}\n"
            ),
            "sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n",
            "sys/fs/cgroup/memory/memory.usage_in_bytes": f"{9000 * MiB}\n",
            "sys/fs/cgroup/cpu,cpuacct/docker/abc/memory.limit_in_bytes": f"{64 * MiB}\n",
        },
        824 * MiB,
        824 * MiB,
    ),
    # The path names the group from the host's root and leads nowhere in a container's mount.
    "inside a container the mount's root is the group; usage past the limit leaves nothing": (
        {
            "proc/self/cgroup": "0::/docker/abc\n",
            "sys/fs/cgroup/memory.max": f"{512 * MiB}\n",
            "sys/fs/cgroup/memory.current": f"{600 * MiB}\n",
        },
        0,
        0,
    ),
    "a garbled memory.stat is read as no page cache": (
        {
            "proc/self/cgroup": "0::/a\n",
            "sys/fs/cgroup/a/memory.max": f"{1024 * MiB}\n",
            "sys/fs/cgroup/a/memory.current": f"{24 * MiB}\n",
            "sys/fs/cgroup/a/memory.stat": "inactive_file lots\n",
        },
        1000 * MiB,
        1000 * MiB,
    ),
    "a limit looser than the machine's room leaves the machine's": (
        {
            "proc/self/cgroup": "0::/a\n",
            "sys/fs/cgroup/a/memory.max": f"{64 * 1024 * MiB}\n",
            "sys/fs/cgroup/a/memory.current": f"{100 * MiB}\n",
        },
        64 * 1024 * MiB - 100 * MiB,
        MACHINE,
    ),
}


@pytest.mark.parametrize(("files", "room", "left"), LIMITS.values(), ids=LIMITS.keys())
def test_a_cgroup_limit_bounds_the_memory_left(tmp_path: Path, files: dict[str, str], room: int, left: int) -> None:
    root = write_files(tmp_path, {"proc/meminfo": MEMINFO, **files})
    assert cgroup_room(root) == room
    assert machine_available(root) == MACHINE
    assert available_memory(root) == left


@pytest.mark.parametrize(
    "files",
    [
        {"proc/self/cgroup": "0::/\n"},  # the root group: no memory.max
        {"proc/self/cgroup": "0::/a\n", "sys/fs/cgroup/a/memory.max": "max\n"},
        {"proc/self/cgroup": "0::/a\n", "sys/fs/cgroup/a/memory.max": "garbage\n"},
        {"proc/self/cgroup": "not a membership line\n"},
        {
            "proc/self/cgroup": "4:memory:/\n",
            "sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n",
            "sys/fs/cgroup/memory/memory.usage_in_bytes": "1000\n",
        },
    ],
)
def test_no_limit_leaves_the_machines_room(tmp_path: Path, files: dict[str, str]) -> None:
    root = write_files(tmp_path, {"proc/meminfo": MEMINFO, **files})
    assert cgroup_room(root) is None
    assert available_memory(root) == MACHINE


@pytest.mark.parametrize(
    "files",
    [
        {},  # no /proc at all (not Linux)
        {"proc/meminfo": "MemTotal: 100 kB\n"},  # a kernel too old for MemAvailable
        {"proc/meminfo": "MemAvailable: lots\n"},
    ],
)
def test_nothing_known_is_none(tmp_path: Path, files: dict[str, str]) -> None:
    assert available_memory(write_files(tmp_path, files)) is None


def test_the_environment_may_say_how_much_is_left(monkeypatch: pytest.MonkeyPatch) -> None:
    # The machine's own figure moves from one read to the next: a fixed one here.
    monkeypatch.setattr(memory, "available_memory", lambda: 7 * MiB)
    monkeypatch.setenv(AVAILABLE_MEMORY_VARIABLE, "300")
    assert run_memory() == 300 * MiB
    monkeypatch.setenv(AVAILABLE_MEMORY_VARIABLE, "0")
    assert run_memory() == 0
    monkeypatch.setenv(AVAILABLE_MEMORY_VARIABLE, "not a number")
    assert run_memory() == 7 * MiB
    monkeypatch.delenv(AVAILABLE_MEMORY_VARIABLE)
    assert run_memory() == 7 * MiB
