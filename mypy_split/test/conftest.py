"""Shared fixtures: pre-warmed typeshed-only caches, one per distinct flag set.

Checking typeshed takes ~1.6 s and a warm run ~0.3 s, so every case starts
from a copy of a cache that already holds the standard library checked with
the case's flags.  Caches are built once per test session (shared by xdist
workers through a lock file) and never hold project modules.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from mypy_split.build_worker.faults import FAILED_TASKS_FATAL
from mypy_split.driver import SINGLE_WORKER_VARIABLE
from mypy_split.tuning import POOL_WORTH_VARIABLE, USABLE_CPUS_VARIABLE
from mypy_split.sharing import SHARE_MIN_VARIABLE
from mypy_split.test.differential import MYPY

WarmCache = Callable[[list[str]], Path]

# Test projects are tiny: left to itself, mypy-split would check them without
# workers.  Every run in the test session starts workers for any stale work,
# except where a test sets the variable back.  Likewise, every import cycle
# that meets an idle worker has its implementation phase shared.
os.environ[POOL_WORTH_VARIABLE] = "0"
os.environ[SHARE_MIN_VARIABLE] = "0"
# `-n 1` runs in-process for users; the tests keep its real single worker covered.
os.environ[SINGLE_WORKER_VARIABLE] = "1"
# Runs get no more workers than CPUs; the tests ask for 3 or 8 on 2 CPUs too.
os.environ[USABLE_CPUS_VARIABLE] = "64"
# A task that fails on a worker ends the run instead of being checked again
# in-process, which would give the right answer and hide the worker's bug;
# tests of such failures set the variable back.
os.environ[FAILED_TASKS_FATAL] = "1"
# Tests send Ctrl-C to the runs they start.  A shell's background job ignores
# SIGINT, children inherit that, and an ignored SIGINT never becomes
# KeyboardInterrupt: the runs get Python's default (a handler here is reset
# to the default in a child).
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _build_warm_cache(root: Path, flags: list[str]) -> Path:
    key = hashlib.sha256("\0".join(flags).encode()).hexdigest()[:16]
    target = root / f"warm-{key}"
    with open(root / f"warm-{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (target / "done").exists() and not (target / "failed").exists():
            _warm(target, flags)
        if (target / "done").exists():
            return target / "cache"
    if not flags:
        raise RuntimeError(f"cannot warm a typeshed cache in {target}")
    # Flags that need project files cannot warm an empty folder; such cases
    # start from the default cache and pay the difference.
    return _build_warm_cache(root, [])


def _warm(target: Path, flags: list[str]) -> None:
    shutil.rmtree(target, ignore_errors=True)
    (target / "empty").mkdir(parents=True)
    completed = subprocess.run(
        [*MYPY, *flags, "--cache-dir", str(target / "cache"), "-c", "pass"],
        cwd=target / "empty",
        capture_output=True,
        text=True,
    )
    (target / ("done" if completed.returncode == 0 else "failed")).touch()


@pytest.fixture(scope="session")
def warm_cache(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> WarmCache:
    root = tmp_path_factory.getbasetemp()
    if worker_id != "master":
        root = root.parent
    root = root / "warm-caches"
    root.mkdir(exist_ok=True)

    def get(flags: list[str]) -> Path:
        return _build_warm_cache(root, cacheable_flags(flags))

    return get


# Flags that take a separate argument and do not shape the cache.
_UNCACHED_WITH_ARGUMENT = (
    "-c", "--command", "-m", "--module", "-p", "--package",
    "--junit-xml", "--config-file", "-O", "--output", "--cache-dir", "--soft-error-limit",
)
# Flags that only change how errors are shown: none is in mypy's
# OPTIONS_AFFECTING_CACHE, so they need no typeshed cache of their own.
_OUTPUT_ONLY = frozenset({
    "--pretty", "--no-pretty", "--color-output", "--no-color-output",
    "--error-summary", "--no-error-summary", "--show-error-codes", "--hide-error-codes",
    "--show-column-numbers", "--show-error-end", "--show-error-context", "--hide-error-context",
    "--show-error-code-links", "--show-absolute-path", "--show-traceback", "--tb",
})


def cacheable_flags(flags: list[str]) -> list[str]:
    """Flags that can shape typeshed's cache entries (program text is not one)."""
    kept: list[str] = []
    skip_next = False
    for flag in flags:
        if skip_next:
            skip_next = False
            continue
        if flag in _UNCACHED_WITH_ARGUMENT:
            skip_next = True
            continue
        if flag.startswith(tuple(f"{name}=" for name in _UNCACHED_WITH_ARGUMENT if name.startswith("--")) + ("-O",)):
            continue
        if flag in _OUTPUT_ONLY:
            continue
        kept.append(flag)
    return kept
