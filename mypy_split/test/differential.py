"""The differential harness: run `mypy` and `mypy-split` on one project, compare.

Each tool gets its own cache (a copy of a pre-warmed, typeshed-only cache), so
each sees the cache state its own previous steps left, which is what "the same
answer on the same cache state" means.  After each step the caches are also
crossed: `mypy -v` on a copy of mypy-split's cache and `mypy-split -v` on a copy
of mypy's must find no stale SCC and print the same lines.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from librt.internal import ReadBuffer
from mypy.cache import CacheMeta, CacheMetaEx

from mypy_split.build_worker.faults import FAILED_TASKS_FATAL
from mypy_split.meta_pairing import PAIRS_FILE
from mypy_split.tuning import POOL_WORTH_SECONDS, POOL_WORTH_VARIABLE
from mypy_split.test.casefile import Case, Step

BIN = Path(sys.executable).parent
MYPY = [str(BIN / "mypy")]
MYPY_SPLIT = [str(BIN / "mypy-split")]
TIMEOUT = 300

# `-v` lines that show an SCC was scheduled for checking rather than found fresh.
_STALE_LOG = re.compile(r"Scheduling SCC .* as (inherently stale|stale due to)")


@dataclass(frozen=True)
class RunResult:
    stdout: str
    stderr: str
    returncode: int

    def describe(self) -> str:
        return f"exit {self.returncode}\n--- stdout\n{self.stdout}--- stderr\n{self.stderr}"


def run_tool(
    command: list[str], args: list[str], project: Path, cache: Path, env: dict[str, str]
) -> RunResult:
    full_env = dict(os.environ)
    full_env.pop("MYPY_FORCE_COLOR", None)
    full_env.update({"MYPY_CACHE_DIR": str(cache), "PYTHONSAFEPATH": "1", "TERM": "dumb"})
    full_env.pop("MYPY_NUM_WORKERS", None)
    full_env.update(env)
    completed = subprocess.run(
        [*command, *args],
        cwd=project,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    return RunResult(completed.stdout, completed.stderr, completed.returncode)


def interface_rows(trace: Path, module: str) -> set[int]:
    """The trace's rows (one per worker) with an interface span of the module's SCC."""
    events = json.loads(trace.read_text())["traceEvents"]
    return {
        event["tid"] for event in events
        if event.get("name") == "interface" and event.get("args", {}).get("module") == module
    }


def apply_step(project: Path, step: Step, index: int, base_mtime: int) -> None:
    """Write and delete files; each step's files get a later mtime than the last's."""
    for name in step.deletes:
        target = project / name
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink()
    stamp = base_mtime + 10 * index
    for name, text in step.writes.items():
        target = project / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        os.utime(target, (stamp, stamp))


_DURATION = re.compile(r"\d+\.\d+ sec")


def durations_masked(result: RunResult) -> RunResult:
    """`-v` lines with their durations (seconds) replaced, which differ from run to run."""
    lines = result.stderr.splitlines(keepends=True)
    masked = [_DURATION.sub("N sec", line) if line.startswith("LOG:") else line for line in lines]
    return RunResult(result.stdout, "".join(masked), result.returncode)


def without_log(result: RunResult) -> RunResult:
    """Drop what `-v` adds (LOG and TRACE lines), which is not part of the answer."""
    kept = [
        line
        for line in result.stderr.splitlines(keepends=True)
        if not line.startswith(("LOG:", "TRACE:"))
    ]
    return RunResult(result.stdout, "".join(kept), result.returncode)


def compare(case: Case, step_index: int, what: str, expected: RunResult, actual: RunResult) -> None:
    if expected != actual:
        raise AssertionError(
            f"{case.source}:{case.line} [{case.name}] step {step_index + 1}: {what}\n"
            f"=== mypy\n{expected.describe()}=== mypy-split\n{actual.describe()}"
        )


_MODULE_LIST = re.compile(r"\(([^()]*)\)")


def stale_lines(result: RunResult) -> list[str]:
    """The `-v` lines scheduling a stale SCC, its module list sorted (mypy logs
    a set, whose order changes from process to process)."""
    return [
        _MODULE_LIST.sub(lambda match: "(" + " ".join(sorted(match.group(1).split())) + ")", line, count=1)
        for line in result.stderr.splitlines()
        if _STALE_LOG.search(line)
    ]


def check_fresh(
    case: Case, step_index: int, who: str, result: RunResult, baseline: RunResult | None = None
) -> None:
    """No SCC is stale in the crossed cache unless mypy finds it stale in its own cache too.

    Some SCCs are stale on every run whatever the cache (a `-c` program is
    "inherently stale"): `baseline` (mypy on its own cache) says which.
    """
    allowed = set(stale_lines(baseline)) if baseline is not None else set()
    stale = [line for line in stale_lines(result) if line not in allowed]
    if stale:
        raise AssertionError(
            f"{case.source}:{case.line} [{case.name}] step {step_index + 1}: {who} found "
            f"stale SCCs in the other tool's cache:\n" + "\n".join(stale)
        )


WORKER_COUNTS = (0, 1, 2, 3)
# The worker count whose cache is crossed with mypy's, and whose runs repeat.
CHECKED_COUNT = 2


def run_case(
    case: Case, workdir: Path, warm_cache: Path, worker_counts: tuple[int, ...] = WORKER_COUNTS
) -> None:
    """Run every step of a case through mypy and mypy-split; AssertionError on a difference.

    mypy runs once per step on its own cache; mypy-split runs at each worker
    count on a cache of its own, so each sees the state its previous steps
    left (later steps run at 0 and `CHECKED_COUNT` workers only).  At `CHECKED_COUNT` workers the first (cold) step runs twice from the
    same cache state (answers must not depend on timing), and after the last
    step that cache and mypy's are crossed (earlier steps' caches are already
    tested by the steps that follow them).
    """
    project = workdir / "project"
    project.mkdir()
    names = ["mypy", *(f"split-n{count}" for count in worker_counts)]
    caches = {name: workdir / f"cache-{name}" for name in names}
    for cache in caches.values():
        shutil.copytree(warm_cache, cache, symlinks=True)
    base_mtime = int(time.time()) - 1000
    for index, step in enumerate(case.steps):
        apply_step(project, step, index, base_mtime)
        reference = run_tool(MYPY, step.args, project, caches["mypy"], step.env)
        for count in worker_counts:
            if index > 0 and count not in (0, CHECKED_COUNT):
                continue  # Later steps: in-process and the checked count suffice.
            cache = caches[f"split-n{count}"]
            args = [*step.args, "-n", str(count)]
            # A worker's failed task would be checked again in-process: the answer would hide it.
            env = {FAILED_TASKS_FATAL: "1", **step.env}
            if count == CHECKED_COUNT and index == 0:
                # The test session starts workers for any stale work (see
                # conftest); this run decides by itself whether they pay.
                own_choice = {POOL_WORTH_VARIABLE: str(POOL_WORTH_SECONDS), **env}
                again = run_tool(MYPY_SPLIT, args, project, copied(cache, workdir), own_choice)
                check_step(case, index, step, f"-n {count}, first run", reference, again)
            ours = run_tool(MYPY_SPLIT, args, project, cache, env)
            check_step(case, index, step, f"-n {count}", reference, ours)
            if "--cache-fine-grained" in step.flags:
                compare_fine_grained_deps(case, index, f"-n {count}", caches["mypy"], cache)
    last = case.steps[-1]
    if last.expected_out is None and not _cache_disabled(last) and CHECKED_COUNT in worker_counts:
        cross_check_caches(case, len(case.steps) - 1, last, project, caches, workdir)


def copied(cache: Path, workdir: Path) -> Path:
    copy = workdir / f"copy-{len(list(workdir.glob('copy-*')))}"
    shutil.copytree(cache, copy, symlinks=True)
    return copy


def check_step(
    case: Case, index: int, step: Step, label: str, reference: RunResult, ours: RunResult
) -> None:
    if step.expected_out is None:
        compare(case, index, f"outputs differ ({label})", reference, ours)
    elif ours.stdout != step.expected_out:
        raise AssertionError(
            f"{case.source}:{case.line} [{case.name}] step {index + 1} ({label}): expected\n"
            f"{step.expected_out}got\n{ours.describe()}"
        )


def cross_check_caches(
    case: Case, index: int, step: Step, project: Path, caches: dict[str, Path], workdir: Path
) -> None:
    """The caches are interchangeable: no stale SCC either way, and the same answer.

    The reference for a run on a warm cache is mypy on its own cache (a warm
    run may legitimately print differently from the cold one before it).
    """

    def verbose_run(tool: list[str], cache_name: str) -> RunResult:
        copy = copied(caches[cache_name], workdir)
        result = run_tool(tool, [*step.args, "-v"], project, copy, step.env)
        shutil.rmtree(copy, ignore_errors=True)
        return result

    mypy_on_own = verbose_run(MYPY, "mypy")
    split_cache = f"split-n{CHECKED_COUNT}"
    for tool, who, cache_name in ((MYPY, "mypy", split_cache), (MYPY_SPLIT, "mypy-split", "mypy")):
        crossed = verbose_run(tool, cache_name)
        check_fresh(case, index, f"{who} on the {cache_name} cache", crossed, baseline=mypy_on_own)
        compare(
            case,
            index,
            f"{who} on the {cache_name} cache answers differently from mypy on its own cache",
            without_log(mypy_on_own),
            without_log(crossed),
        )


def fine_grained_deps(cache: Path) -> dict[str, object]:
    """Every `*.deps.json` entry of a cache (file or SQLite) as sets, since the
    engine writes sets in hash order, plus the source snapshot of
    `@deps.meta.json` (its mtimes differ by nature).  Reads without writing."""
    found: dict[str, object] = {}
    for name, data in cache_entries(cache):
        if name.endswith(".deps.json"):
            deps = json.loads(data)
            found[name] = {trigger: set(targets) for trigger, targets in deps.items()}
        elif name.endswith("@deps.meta.json"):
            meta = json.loads(data)
            found[name] = (meta["snapshot"], sorted(meta["deps_meta"]))
    return found


def cache_entries(cache: Path) -> list[tuple[str, bytes]]:
    """(name, contents) of every cache entry, from files or the SQLite shards."""
    entries: list[tuple[str, bytes]] = []
    for path in sorted(cache.rglob("*")):
        if path.name == PAIRS_FILE:
            continue  # Our own records beside a file store, not entries.
        if path.suffix == ".db":
            database = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                rows = database.execute("SELECT path, data FROM files2").fetchall()
            finally:
                database.close()
            entries.extend((f"{path.parent.name}/{name}", bytes(data)) for name, data in rows)
        elif path.is_file():
            entries.append((str(path.relative_to(cache)), path.read_bytes()))
    return entries


# Every field of the engine's two entries per module (compiled classes: no
# vars()), but `data_mtime`, the time stamp of a data file written at another moment.
META_FIELDS = (
    "id", "path", "mtime", "size", "hash", "dependencies", "data_file", "suppressed", "imports_ignored",
    "options", "suppressed_deps_opts", "dep_prios", "dep_lines", "dep_hashes", "interface_hash",
    "trans_dep_hash", "version_id", "ignore_all", "plugin_data",
)
META_EX_FIELDS = ("dependencies", "suppressed", "dep_hashes", "error_lines")


def entry_fields(
    cache: Path, packages: tuple[str, ...] = (), left_out: tuple[str, ...] = ()
) -> dict[str, dict[str, object]]:
    """Each module's meta and `meta_ex` entry (those of `packages` only, if given) as a dict of fields."""
    fields: dict[str, dict[str, object]] = {}
    for name, data in cache_entries(cache):
        # Entries are named after the Python version's folder, then the module's path.
        if packages and not name.split("/", 1)[-1].startswith(packages):
            continue
        if name.endswith(".meta_ex.ff"):
            extra = CacheMetaEx.read(ReadBuffer(data))
            assert extra is not None, name
            fields[name] = {key: getattr(extra, key) for key in META_EX_FIELDS if key not in left_out}
        elif name.endswith(".meta.ff"):
            # Two bytes of format versions come first.
            meta = CacheMeta.read(ReadBuffer(data[2:]), data_file="")
            assert meta is not None, name
            fields[name] = {key: getattr(meta, key) for key in META_FIELDS if key not in left_out}
    return fields


def entry_differences(expected: dict[str, dict[str, object]], actual: dict[str, dict[str, object]]) -> list[str]:
    """Entries only one cache has, and each field that differs, one line each."""
    found = [
        f"{name}: only in {'mypy' if name in expected else 'mypy-split'}'s cache"
        for name in sorted(set(expected) ^ set(actual))
    ]
    for name in sorted(set(expected) & set(actual)):
        for key in sorted(set(expected[name]) | set(actual[name])):
            if expected[name].get(key) != actual[name].get(key):
                found.append(f"{name} {key}: mypy {expected[name].get(key)!r}, mypy-split {actual[name].get(key)!r}")
    return found


def compare_fine_grained_deps(case: Case, index: int, label: str, mypy_cache: Path, ours: Path) -> None:
    expected = fine_grained_deps(mypy_cache)
    actual = fine_grained_deps(ours)
    if expected != actual:
        keys = sorted(set(expected) | set(actual))
        different = [key for key in keys if expected.get(key) != actual.get(key)]
        details = "\n".join(f"{key}:\n  mypy:  {expected.get(key)}\n  split: {actual.get(key)}" for key in different[:5])
        raise AssertionError(
            f"{case.source}:{case.line} [{case.name}] step {index + 1} ({label}): "
            f"fine-grained dependency caches differ in {len(different)} files\n{details}"
        )


def _cache_disabled(step: Step) -> bool:
    flags = " ".join(step.flags)
    return "--no-incremental" in flags or "--cache-dir=/dev/null" in flags or "--cache-dir /dev/null" in flags
