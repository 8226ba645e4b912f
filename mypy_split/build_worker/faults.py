"""Fault injection for tests: stop or crash a worker at a chosen point.

Inert unless the test sets one of these variables (most name a module):

- `MYPY_SPLIT_TEST_STOP_BETWEEN_PHASES`: after the interface result of the
  SCC holding that module is sent, the worker stops itself (SIGSTOP), so the
  test can find it by pid in that state and kill it.  Only the first worker to
  get there stops (a marker file in the folder named by
  `MYPY_SPLIT_TEST_MARKERS` records it), so the retry can finish.
- `MYPY_SPLIT_TEST_CRASH_ON`: every worker that starts the SCC holding that
  module dies of SIGKILL at once; with `MYPY_SPLIT_TEST_MARKERS` set, only
  the first.
- `MYPY_SPLIT_TEST_CRASH_FORKED` (any value): every child a worker forks to
  share bodies (forked.py) dies of SIGKILL before its first module.
- `MYPY_SPLIT_TEST_SLOW_BODIES`: seconds every worker waits before checking
  an SCC's bodies, so that what it sent before reaches the coordinator first.
- `MYPY_SPLIT_TEST_HEAD_START_DIFFERS`: a worker checking the builtins cycle
  ahead (head_start.py) describes that module with another source hash, so
  that the coordinator must refuse its work.
- `MYPY_SPLIT_TEST_HEAD_START_JUDGED_LATE`: seconds the coordinator waits
  before it judges a head start, so that the worker's results come with its
  report.
- `MYPY_SPLIT_TEST_AWAY_FROM_DEPENDENCIES` (any value): the coordinator sends
  a task to the idle worker that checked fewest of its direct dependencies
  (the first such), so that the task loads the others from the cache (a
  project of two modules otherwise runs both on one worker, one after the
  other).
- `MYPY_SPLIT_TEST_FAILED_TASKS_FATAL` (any value): a task that fails on a
  worker with an internal error (not a blocker) ends the run with exit 2,
  naming it, instead of being checked again in the coordinator, which would
  hide the worker's bug from a test that compares answers.

- `MYPY_SPLIT_TEST_WITHHELD` (module names, comma-separated): the process
  that checks such a module writes
  down none of its argument lists and definition links (`memory_form.py`),
  as if none could be, and judges it `MESSAGES` (`sensitive.py`), so that
  the ways of keeping such a module in memory (exact mode, confirmations)
  can be tested on the known cases.
`HEAD_START_JUDGED_LATE`, `AWAY_FROM_DEPENDENCIES` and `FAILED_TASKS_FATAL`
are the coordinator's; `WITHHELD` acts wherever a module is checked; the
others act in workers.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Sequence, Set
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_split.protocol import JsonValue

STOP_BETWEEN_PHASES = "MYPY_SPLIT_TEST_STOP_BETWEEN_PHASES"
CRASH_ON = "MYPY_SPLIT_TEST_CRASH_ON"
MARKERS = "MYPY_SPLIT_TEST_MARKERS"
HEAD_START_DIFFERS = "MYPY_SPLIT_TEST_HEAD_START_DIFFERS"
CRASH_FORKED = "MYPY_SPLIT_TEST_CRASH_FORKED"
SLOW_BODIES = "MYPY_SPLIT_TEST_SLOW_BODIES"
HEAD_START_JUDGED_LATE = "MYPY_SPLIT_TEST_HEAD_START_JUDGED_LATE"
AWAY_FROM_DEPENDENCIES = "MYPY_SPLIT_TEST_AWAY_FROM_DEPENDENCIES"
FAILED_TASKS_FATAL = "MYPY_SPLIT_TEST_FAILED_TASKS_FATAL"
WITHHELD = "MYPY_SPLIT_TEST_WITHHELD"


def withheld(module_id: str) -> bool:
    """Whether the test has this module's memory form withheld (see above)."""
    return module_id in os.environ.get(WITHHELD, "").split(",")


def task_started(module_ids: Set[str]) -> None:
    target = os.environ.get(CRASH_ON)
    if target in module_ids and _first_time(f"crash-{target}"):
        os.kill(os.getpid(), signal.SIGKILL)


def forked_child_started() -> None:
    if os.environ.get(CRASH_FORKED):
        os.kill(os.getpid(), signal.SIGKILL)


def stops_between_phases(module_ids: Set[str]) -> bool:
    """Whether the test may stop this SCC's worker between its phases (its interface result goes first)."""
    return os.environ.get(STOP_BETWEEN_PHASES) in module_ids


def between_phases(module_ids: Set[str]) -> None:
    target = os.environ.get(STOP_BETWEEN_PHASES)
    if target in module_ids and _first_time(f"stop-{target}"):
        os.kill(os.getpid(), signal.SIGSTOP)


def before_bodies() -> None:
    pause = os.environ.get(SLOW_BODIES)
    if pause:
        time.sleep(float(pause))


def before_judging_head_start() -> None:
    pause = os.environ.get(HEAD_START_JUDGED_LATE)
    if pause:
        time.sleep(float(pause))


def placed_away(idle: int, others_idle: Sequence[int], dependencies_checked: Callable[[int], int]) -> int:
    """The idle worker a task goes to: `idle`, or under the test setting the one that checked fewest dependencies."""
    if not os.environ.get(AWAY_FROM_DEPENDENCIES):
        return idle
    return min([idle, *others_idle], key=dependencies_checked)


def head_start_report(modules: list[dict[str, JsonValue]]) -> list[dict[str, JsonValue]]:
    target = os.environ.get(HEAD_START_DIFFERS)
    return [
        {**module, "source_hash": "0" * 40} if module.get("id") == target else module for module in modules
    ]


def _first_time(name: str) -> bool:
    folder = os.environ.get(MARKERS)
    if not folder:
        return True
    try:
        os.close(os.open(os.path.join(folder, name), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


def failed_tasks_fatal() -> bool:
    return bool(os.environ.get(FAILED_TASKS_FATAL))
