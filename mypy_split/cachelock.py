"""One mypy-split run at a time per cache folder: an advisory lock on the folder.

Why a lock for the whole run: mypy's cache entries of one module (meta, data,
`meta_ex`) carry no link to each other beyond a data mtime in whole seconds,
and a run decides at graph loading which entries are fresh, then reads their
data much later (in workers, when a dependent is checked).  Two runs with
other flags or other file contents writing the same module in between would
hand each other foreign entries, and a run killed between two writes would
leave a mixed set.  Holding an exclusive `flock` on the cache folder from
before the cache is opened until it is closed makes every mypy-split run see
and leave the cache as a sequential run would; a run that finds the folder
locked waits (work is never thrown away, only delayed).

Workers inherit the locked descriptor, so a coordinator killed with SIGKILL
keeps the folder locked until its workers have finished their task and
exited.  The lock is released by the kernel when the last holder dies.
Plain `mypy` processes do not take it (see README, "Concurrent runs").
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator

from mypy.options import Options

if sys.platform != "win32":
    import fcntl


@contextlib.contextmanager
def cache_lock(options: Options, log: Callable[[str], None]) -> Iterator[int | None]:
    """Hold the cache folder's lock; yields its descriptor (None: no shared cache to lock).

    Where the folder cannot be created or locked (read-only, a file system
    without locks), the run goes on unlocked, as mypy itself would.
    """
    fd = _open_locked(options, log)
    try:
        yield fd
    finally:
        if fd is not None:
            os.close(fd)  # Workers still alive keep their inherited copy locked.


def _open_locked(options: Options, log: Callable[[str], None]) -> int | None:
    folder = options.cache_dir
    if sys.platform == "win32" or not folder or folder.startswith(os.devnull) or options.bazel:
        return None
    try:
        os.makedirs(folder, exist_ok=True)
        fd = os.open(folder, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"Waiting for another mypy-split run on the cache {folder}")
            fcntl.flock(fd, fcntl.LOCK_EX)
    except OSError:
        os.close(fd)
        return None
    except BaseException:
        # Ctrl-C or SIGTERM while waiting: nothing is held, nothing to undo.
        os.close(fd)
        raise
    return fd
