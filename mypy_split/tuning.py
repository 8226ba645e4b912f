"""Thresholds of the coordinator's decisions that the environment may change.

Each has a measured default; tests and benchmarks set the variables to force
a path (workers on tiny projects) or to compare settings side by side.
"""

from __future__ import annotations

import os

from mypy_split import cpus, memory

# Expected seconds of stale work below which starting workers costs more than
# it saves (process start, engine import, loading dependencies from the cache):
# until the stale SCCs found add up to this, they are checked in-process.
# Tests set 0 to exercise workers on tiny projects.
POOL_WORTH_SECONDS = 1.0
POOL_WORTH_VARIABLE = "MYPY_SPLIT_POOL_MIN_WORK"
# A worker whose task should end within this many seconds is sent its next
# task ahead if that one is expected to be this small too: it then starts
# without waiting for a round trip to the coordinator (about a millisecond,
# for each of hundreds of tiny SCCs).  Bigger tasks wait for the first free
# worker.  0 turns it off.
SEND_AHEAD_SECONDS = 0.02
SEND_AHEAD_VARIABLE = "MYPY_SPLIT_SEND_AHEAD"
# A task whose bodies are expected to take at most this long sends its
# interface result together with its implementation result: the coordinator
# wakes up once for it, not twice (on 3,000 small modules, about 3,000 fewer
# wake-ups, each costing the CPU a worker would use), and the SCCs waiting for
# that interface wait this long more at most.
RESULTS_TOGETHER_SECONDS = 0.005
# Small queued tasks written to one worker together, a batch (when it is
# idle, or its queued work should end within the send-ahead time), are
# expected to take at most this many seconds in all: their results come back in one
# write after the last one's (batches.py), one wake-up of the coordinator
# instead of one per task, and the SCCs waiting for them wait this long more
# at most.  0 turns batches off.
BATCH_SECONDS = 0.02
BATCH_VARIABLE = "MYPY_SPLIT_BATCH"
# Near the build's end a worker skips the garbage collection before its next
# task (engine.objects_kept): the little work left would hardly reuse what it
# frees before the process exits, and right after a big SCC the collection
# takes a tenth of a second or more (textual's 141-module cycle: about 0.2 s
# in both workers at once).  "Near" is this many seconds of work per worker
# not started yet, the task's own included.  0 turns it off.
COLLECT_TAIL_SECONDS = 0.5
COLLECT_TAIL_VARIABLE = "MYPY_SPLIT_COLLECT_TAIL"
# Checking workers' answers again for mypy's wording (confirm.py) may cost the
# coordinator this many seconds of expected work in a run, or this share of
# the run's stale work if more: an SCC's own work and that of the
# dependencies it needs in memory that this process does not hold yet.  On
# an empty cache one such answer can need most of the standard library, and
# a big cycle's answer the whole cycle, serially: textual's 141-module cycle
# took 8.6 s there and made a 5.2 s run take 13 s.  An answer beyond what is
# left is shown as its worker found it.  0 turns confirmations off; "inf"
# confirms every one.
CONFIRM_SECONDS = 0.25
CONFIRM_SHARE = 0.1
CONFIRM_VARIABLE = "MYPY_SPLIT_CONFIRM"
# 0 turns off the head start of the builtins cycle on an empty cache (head_start.py).
HEAD_START_VARIABLE = "MYPY_SPLIT_HEAD_START"


def head_start_enabled() -> bool:
    return os.environ.get(HEAD_START_VARIABLE, "1") != "0"


# Workers started mid-run forked from a seed (worker_seed.py): off by default,
# since the seed costs every run that starts no worker about 10 ms.
WORKER_SEED_VARIABLE = "MYPY_SPLIT_WORKER_SEED"


def worker_seed_enabled() -> bool:
    return os.environ.get(WORKER_SEED_VARIABLE, "0") == "1"


# More workers than CPUs only make them wait for each other, and each one
# repeats work (a shared cycle's helpers repeat its interface): on 2 CPUs,
# textual took 16.6 s at `-n 16` against 6.4 s at `-n 2` (`mypy -n 16`: 13.2 s).
# So a run uses at most as many workers as this process may keep busy at once
# (cpus.py: its CPU affinity and any cgroup CPU quota).  The variable sets that
# count instead (the tests set a big one, so `-n 3` runs 3 workers anywhere).
USABLE_CPUS_VARIABLE = "MYPY_SPLIT_USABLE_CPUS"


def usable_cpus() -> int:
    try:
        given = int(os.environ.get(USABLE_CPUS_VARIABLE, "0"))
    except ValueError:
        given = 0
    return given if given > 0 else cpus.usable_cpus()


# A helper of a shared cycle, or a forked copy of its owner, holds the whole
# cycle once more: measured at about 35 bytes of memory per byte of the
# cycle's source on textual's 141-module cycle (2.3 MB of source, about 80 MiB
# per copy), 27 on pytest's 33-module one.  One more process joins only where
# the memory left (memory.py: the machine's, and any cgroup limit's) is
# MEMORY_HEADROOM times its estimate, so that a big cycle on a small CI
# machine is not held once per worker until the kernel kills one.
SHARED_COPY_BYTES_PER_SOURCE_BYTE = 40
MEMORY_HEADROOM = 1.5
# The memory left, in MiB, instead of what the machine says (tests).
AVAILABLE_MEMORY_VARIABLE = "MYPY_SPLIT_AVAILABLE_MEMORY"


def available_memory() -> int | None:
    """Bytes this run may still take; None where nothing is known (then nothing is limited)."""
    try:
        given = int(os.environ.get(AVAILABLE_MEMORY_VARIABLE, "-1"))
    except ValueError:
        given = -1
    return given << 20 if given >= 0 else memory.available_memory()


# Workers a run may start in place of lost ones (replacements.py), by
# default as many as it has; tests set 0 to see a run go on without them.
REPLACEMENTS_VARIABLE = "MYPY_SPLIT_WORKER_REPLACEMENTS"


def worker_replacements(workers: int) -> int:
    try:
        return max(0, int(os.environ.get(REPLACEMENTS_VARIABLE, workers)))
    except ValueError:
        return workers


# Bytes asked for in each worker's input pipe (Linux), so that a task frame
# usually goes out in one write; Linux lets any process ask for up to 1 MiB.
# Tests ask for one page, so that task frames wait in the coordinator's outbox.
PIPE_ROOM_BYTES = 1 << 20
PIPE_ROOM_VARIABLE = "MYPY_SPLIT_PIPE_ROOM"


def pipe_room() -> int:
    try:
        return int(os.environ.get(PIPE_ROOM_VARIABLE, PIPE_ROOM_BYTES))
    except ValueError:
        return PIPE_ROOM_BYTES


def seconds_from_environment(variable: str, default: float) -> float:
    try:
        return float(os.environ.get(variable, default))
    except ValueError:
        return default
