#!/usr/bin/env python3
"""Sweep mypy's own cases for cache-versus-memory differences of the engine itself.

The engine can answer differently about a dependency it checked in the same
process and one it loaded from the cache (`mypy_split/sensitive.py`).  Such
differences are a class: this script looks for its members in mypy's
`test-data/unit/check-*.test` (the sdist of the installed mypy, fetched as
`conformance.py` does), and classifies each by what mypy-split does about it.

For each case with project modules besides its main program, and on a copy of
a warm typeshed-only cache, `mypy` runs twice:

1. cold: every project module is checked in this process, in memory;
2. after a comment line is appended to the main program: only the main
   program is checked, every other project module comes from the cache.

Where the two answers differ (and the cold answer is stable), the engine's
two forms of some dependency differ for what the main program does with it.
The case is then graded by the highest level `cache_sensitivity` gives the
other project modules, checked cold in one process, and where nothing is
flagged, by what mypy-split answers:

- `RESTORED`: nothing flagged, and `mypy-split -n 2`, the main program sent
  to a worker that did not check the other modules (so it loads them from
  the cache, and puts back what the cache lost: `stored_order.py`,
  `memory_form.py`), prints mypy's cold answer;
- `NONE`: nothing flagged, and that run prints another answer: a kind that
  mypy-split misses (exit status 1 if any is found);
- `MESSAGES`: exact mode (`MYPY_SPLIT_MEMORY_AFFINITY=1`) answers as mypy;
  the default mode confirms the answer in the coordinator, within a budget
  (README, "Known limits");
- `BINDING`: both modes answer as mypy.

    python misc/cache_memory_sweep.py --jobs 2
    python misc/cache_memory_sweep.py --files 'check-dataclasses.test' --show-diffs
"""

from __future__ import annotations

import argparse
import concurrent.futures
import difflib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from conformance import DEFAULT_CACHE, parse_shard, select

from mypy_split.build_worker.faults import AWAY_FROM_DEPENDENCIES
from mypy_split.sharing import SHARE_MIN_VARIABLE
from mypy_split.test.casefile import Step
from mypy_split.test.differential import MYPY, MYPY_SPLIT, RunResult, apply_step, run_tool, without_log
from mypy_split.test.mypy_corpus import (
    DEFAULT_INDEX,
    CorpusCase,
    CorpusUnavailable,
    WarmCache,
    engine_version,
    fetch_corpus,
    warm_cache_factory,
)
from mypy_split.tuning import POOL_WORTH_VARIABLE, USABLE_CPUS_VARIABLE

MAIN = "tmp/main.py"
MAIN_MODULE = "main"
TOUCH = "\n# changed by cache_memory_sweep\n"
LEVELS = ("NONE", "MESSAGES", "BINDING")
RESTORED = "RESTORED"
# Workers for any stale work and every cycle shared; `-n 3` means 3 workers,
# whatever the CPUs here; `main` on a worker that did not check `base` (left to
# itself the coordinator runs both on one worker, one after the other).
FORCED_WORKERS = {
    POOL_WORTH_VARIABLE: "0", SHARE_MIN_VARIABLE: "0", USABLE_CPUS_VARIABLE: "64", AWAY_FROM_DEPENDENCIES: "1"
}
# Options under which nothing (or not the whole graph) is written to the cache.
NO_CACHE_FLAGS = ("--no-incremental", "--cache-dir", "--no-sqlite-cache", "--sqlite-cache")

# Run in the case's project: check it cold in one process through our driver
# and print each project module's sensitivity.
CLASSIFY = """
import json, os, sys
from mypy.main import process_options
from mypy.fscache import FileSystemCache
from mypy_split import driver, output
from mypy_split.phases import memory_facts
fscache = FileSystemCache()
sources, options = process_options(sys.argv[1:], fscache=fscache)
sink = output.MessageSink(options, sys.stderr, sys.stderr)
kept = driver.build_and_keep(sources, options, fscache, sink, sys.stderr, sys.stderr)
if not isinstance(kept, driver.KeptBuild):
    sys.exit(3)
trees = {module: state.tree for module, state in kept.graph.items() if state.tree is not None}
project = [
    module for module in trees
    if os.path.abspath(kept.graph[module].xpath).startswith(os.path.abspath("tmp") + os.sep)
]
print(json.dumps({module: int(memory_facts([module], kept.graph)[0]) for module in project}))
"""


@dataclass(frozen=True)
class Finding:
    case: CorpusCase
    level: str  # one of LEVELS, RESTORED, "unstable" (mypy differs from itself cold) or "unclassified"
    modules: dict[str, int]
    diff: str


def sweepable(item: CorpusCase) -> bool:
    """One step run on the main program, with other project modules, and a cache to load them from."""
    if item.skip is not None or not item.case.steps:
        return False
    step = item.case.steps[0]
    if step.targets != [MAIN] or MAIN not in step.writes:
        return False
    if any(flag.split("=")[0] in NO_CACHE_FLAGS for flag in step.flags):
        return False
    return any(name.endswith((".py", ".pyi")) and name != MAIN for name in step.writes)


def run_mypy(step: Step, project: Path, cache: Path) -> RunResult:
    # `-v` logs which modules came from the cache: that is no difference of the answer.
    return without_log(run_tool(MYPY, step.args, project, cache, step.env))


def cold_run(step: Step, workdir: Path, warm: Path) -> tuple[RunResult, Path, Path]:
    """mypy's answer with every project module checked in memory; the project and the cache it left."""
    project = workdir / "project"
    cache = workdir / "cache"
    project.mkdir()
    shutil.copytree(warm, cache, symlinks=True)
    apply_step(project, step, 0, int(time.time()) - 1000)
    return run_mypy(step, project, cache), project, cache


def cold_then_cached(step: Step, workdir: Path, warm: Path) -> tuple[RunResult, RunResult]:
    cold, project, cache = cold_run(step, workdir, warm)
    with open(project / MAIN, "a", encoding="utf-8") as main:
        main.write(TOUCH)
    return cold, run_mypy(step, project, cache)


def classify(step: Step, workdir: Path, warm: Path) -> dict[str, int] | None:
    """Each project module's level (CLASSIFY)."""
    project = workdir / "project"
    cache = workdir / "classify-cache"
    shutil.copytree(warm, cache, symlinks=True)
    command = [sys.executable, "-c", CLASSIFY, *step.args, "--cache-dir", str(cache)]
    env = {**os.environ, "PYTHONSAFEPATH": "1", **step.env}
    env.pop("MYPY_CACHE_DIR", None)
    completed = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=300)
    if completed.returncode != 0 or not completed.stdout.strip():
        return None
    return dict(json.loads(completed.stdout.splitlines()[-1]))


def sweep_case(item: CorpusCase, warm: WarmCache, workroot: Path) -> Finding | None:
    step = item.case.steps[0]
    cache = warm(step.flags)
    with tempfile.TemporaryDirectory(dir=workroot) as name:
        cold, cached = cold_then_cached(step, Path(name), cache)
    if cold == cached:
        return None
    diff = "".join(
        difflib.unified_diff(
            cold.describe().splitlines(keepends=True),
            cached.describe().splitlines(keepends=True),
            "cold (memory)",
            "main changed (cache)",
            n=1,
        )
    )
    with tempfile.TemporaryDirectory(dir=workroot) as name:
        again, _, _ = cold_run(step, Path(name), cache)
    if again != cold:
        return Finding(item, "unstable", {}, diff)
    with tempfile.TemporaryDirectory(dir=workroot) as name:
        workdir = Path(name)
        (workdir / "project").mkdir()
        apply_step(workdir / "project", step, 0, int(time.time()) - 1000)
        classified = classify(step, workdir, cache)
    if classified is None:
        return Finding(item, "unclassified", {}, diff)
    modules = classified
    top = max((level for module, level in modules.items() if module != MAIN_MODULE), default=0)
    if top == 0 and not split_differs(item, warm, workroot, ["2"], FORCED_WORKERS):
        return Finding(item, RESTORED, modules, diff)
    return Finding(item, LEVELS[top], modules, diff)


def split_differs(
    case: CorpusCase, warm: WarmCache, workroot: Path, counts: list[str], env: dict[str, str]
) -> list[str]:
    """The worker counts at which mypy-split's answer (stdout, exit code) under `env` is not mypy's cold one."""
    step = case.case.steps[0]
    cache = warm(step.flags)
    with tempfile.TemporaryDirectory(dir=workroot) as name:
        workdir = Path(name)
        project = workdir / "project"
        project.mkdir()
        apply_step(project, step, 0, int(time.time()) - 1000)

        def run(command: list[str], extra: list[str], label: str, extra_env: dict[str, str]) -> tuple[str, int]:
            shutil.copytree(cache, workdir / label, symlinks=True)
            result = run_tool(command, [*step.args, *extra], project, workdir / label, {**step.env, **extra_env})
            return result.stdout, result.returncode

        cold = run(MYPY, [], "mypy", {})
        return [n for n in counts if run(MYPY_SPLIT, ["-n", n], f"split-{n}", env) != cold]


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", action="append", metavar="GLOB", help="check-*.test files (default: all of them)")
    parser.add_argument("--cases", action="append", metavar="GLOB", help="case names to keep")
    parser.add_argument("--shard", default="1/1", help="I/N: every N-th case from the I-th")
    parser.add_argument("--limit", type=int, help="stop after this many sweepable cases")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--show-diffs", action="store_true", help="print each difference")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE, help="where the sdist is kept")
    parser.add_argument("--index-url", default=DEFAULT_INDEX)
    return parser.parse_args(argv)


def report(findings: list[Finding], swept: int, show_diffs: bool) -> int:
    """Print the counts and each finding; 1 if one is `NONE`."""
    counts = Counter(finding.level for finding in findings)
    print(f"\n{swept} cases swept, {len(findings)} answer differently from the cache")
    for level in (*LEVELS, RESTORED, "unstable", "unclassified"):
        print(f"  {level:<12} {counts[level]:>4}")
    for finding in findings:
        flagged = {module: LEVELS[level] for module, level in finding.modules.items() if module != MAIN_MODULE}
        print(f"\n{finding.level}: {finding.case.where}\n  project modules: {flagged}")
        if show_diffs:
            print("  " + finding.diff.rstrip("\n").replace("\n", "\n  "))
    return 1 if counts["NONE"] else 0


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        root = fetch_corpus(args.cache_dir, engine_version(), args.index_url)
    except CorpusUnavailable as error:
        print(f"cache_memory_sweep: cannot fetch the mypy sdist: {error}", file=sys.stderr)
        return 2
    # Fixture cases run on the real typeshed: only the two answers are compared.
    # check-incremental.test included: many of its cases have several modules.
    files = args.files or ["check-*.test"]
    chosen = select(root, files, parse_shard(args.shard), None, True, args.cases)
    cases = [item for item in chosen if sweepable(item)][: args.limit]
    warm = warm_cache_factory(args.cache_dir)
    print(f"{len(cases)} cases with project modules besides the main program, {args.jobs} jobs", flush=True)
    start = time.perf_counter()
    status = report(sweep_all(cases, warm, args.jobs), len(cases), args.show_diffs)
    print(f"\n{len(cases)} cases in {time.perf_counter() - start:.0f}s")
    return status


def sweep_all(cases: list[CorpusCase], warm: WarmCache, jobs: int) -> list[Finding]:
    """The findings of these cases, in their order, swept on `jobs` threads (the work is in subprocesses)."""
    with tempfile.TemporaryDirectory(prefix="mypy-sweep-") as workroot:
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            results = list(pool.map(lambda item: sweep_case(item, warm, Path(workroot)), cases))
    return [finding for finding in results if finding is not None]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
