#!/usr/bin/env python3
"""Conformance: run mypy's own check-*.test cases through `mypy` and `mypy-split`.

Downloads the sdist of the installed mypy from the package index (once, into
--cache-dir, which is outside git), takes the cases of its
`test-data/unit/check-*.test` files that run on the real typeshed (cases
written for mypy's fake stdlib fixtures are skipped unless --fixture-cases,
those marked -skip or -xfail always), runs each through both tools on copies
of one warm typeshed cache, and compares stdout, stderr and exit code of every
step.  Prints per-file and total counts and
lists every case that differs; exits 1 if any did, 2 if the sdist could not be
fetched.

    python misc/conformance.py --jobs 2
    python misc/conformance.py --files 'check-basic.test' --files 'check-class*.test' --show-diffs
    python misc/conformance.py --shard 1/4 --limit 500 --workers 0 --workers 2 --cross-check
    python misc/conformance.py --files check-incremental.test --fixture-cases --cases 'testIndirect*' --cross-check

The parsing and running live in mypy_split/test/mypy_corpus.py, which the
pytest sample (test_conformance.py, marker `conformance`) shares.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from mypy_split.build_worker.faults import FAILED_TASKS_FATAL
from mypy_split.tuning import POOL_WORTH_VARIABLE, USABLE_CPUS_VARIABLE
from mypy_split.sharing import SHARE_MIN_VARIABLE
from mypy_split.test.mypy_corpus import (
    DEFAULT_INDEX,
    CorpusCase,
    CorpusUnavailable,
    Outcome,
    engine_version,
    fetch_corpus,
    parse_test_file,
    run_cases,
    check_files,
    warm_cache_factory,
)

DEFAULT_CACHE = Path(__file__).resolve().parent / ".corpora"
# Not in the default selection: almost all of it runs on fake fixtures, and it
# is about mypy's incremental bookkeeping more than about answers.
DEFAULT_EXCLUDE = ["check-incremental.test"]


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--files",
        action="append",
        metavar="GLOB",
        help="test files to take (repeatable; default: check-*.test but check-incremental.test)",
    )
    parser.add_argument(
        "--cases",
        action="append",
        metavar="GLOB",
        help="case names to take from the chosen files (repeatable; default: all)",
    )
    parser.add_argument("--limit", type=int, metavar="N", help="run at most N cases")
    parser.add_argument("--jobs", type=int, default=1, metavar="N", help="cases run in parallel")
    parser.add_argument("--shard", default="1/1", metavar="I/N", help="run the I-th of N shards")
    parser.add_argument(
        "--workers",
        type=int,
        action="append",
        metavar="N",
        help="run mypy-split with -n N (repeatable; default: 0, i.e. no -n)",
    )
    parser.add_argument("--show-diffs", action="store_true", help="print each difference's diff")
    parser.add_argument(
        "--cross-check", action="store_true", help="also check that the two caches are interchangeable"
    )
    parser.add_argument(
        "--fixture-cases",
        action="store_true",
        help="also run the cases written for mypy's fake stdlib fixtures, on the real typeshed",
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="print each case as it ends")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE, help="sdist and warm caches")
    parser.add_argument("--index-url", default=DEFAULT_INDEX, help="package index (simple API)")
    return parser.parse_args(argv)


def parse_shard(text: str) -> tuple[int, int]:
    index, _, count = text.partition("/")
    if not (index.isdigit() and count.isdigit() and 1 <= int(index) <= int(count)):
        raise SystemExit(f"--shard: expected I/N with 1 <= I <= N, got {text!r}")
    return int(index), int(count)


def select(
    root: Path,
    patterns: list[str] | None,
    shard: tuple[int, int],
    limit: int | None,
    fixture_cases: bool,
    names: list[str] | None = None,
) -> list[CorpusCase]:
    """The cases of the chosen files, in file order; sharded, then cut after `limit` kept ones."""
    def chosen_file(name: str) -> bool:
        if patterns:
            return any(fnmatch.fnmatch(name, pattern) for pattern in patterns)
        return name not in DEFAULT_EXCLUDE

    files = [path for path in check_files(root) if chosen_file(path.name)]
    every = [
        case
        for path in files
        for case in parse_test_file(path, root, fixture_cases)
        if not names or any(fnmatch.fnmatchcase(case.case.name, name) for name in names)
    ]
    index, count = shard
    chosen: list[CorpusCase] = []
    kept = 0
    for case in every[index - 1 :: count]:
        if case.skip is None:
            if limit is not None and kept >= limit:
                break
            kept += 1
        chosen.append(case)
    return chosen


def report(cases: list[CorpusCase], outcomes: list[Outcome], show_diffs: bool) -> int:
    counts: dict[str, Counter[str]] = {}
    for case in cases:
        counts.setdefault(case.case.source, Counter())["skipped" if case.skip else "kept"] += 1
    for outcome in outcomes:
        verdict = "identical" if outcome.difference is None else "different"
        counts[outcome.case.case.source][verdict] += 1
    total: Counter[str] = Counter()
    columns = ("kept", "skipped", "identical", "different")
    width = max([len(name) for name in counts] + [5])
    for name, counter in counts.items():
        total.update(counter)
        print(f"{name:<{width}}  " + "  ".join(f"{c} {counter[c]:>4}" for c in columns))
    print(f"{'total':<{width}}  " + "  ".join(f"{c} {total[c]:>4}" for c in columns))
    different = [outcome for outcome in outcomes if outcome.difference is not None]
    if different:
        print(f"\n{len(different)} different:")
    for outcome in different:
        assert outcome.difference is not None
        headline, _, details = outcome.difference.partition("\n")
        print(f"{outcome.case.where} {headline}")
        if show_diffs and details:
            print("    " + details.rstrip("\n").replace("\n", "\n    "))
    return 1 if different else 0


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    # mypy's cases are tiny: make mypy-split start workers for any stale work,
    # so that the parallel path is what gets compared.
    os.environ.setdefault(POOL_WORTH_VARIABLE, "0")
    os.environ.setdefault(SHARE_MIN_VARIABLE, "0")
    # `--workers 3` means 3 workers, whatever the CPUs here.
    os.environ.setdefault(USABLE_CPUS_VARIABLE, "64")
    # A worker's failed task ends the run: checked again in-process, it would hide the bug.
    os.environ.setdefault(FAILED_TASKS_FATAL, "1")
    version = engine_version()
    try:
        root = fetch_corpus(args.cache_dir, version, args.index_url)
    except CorpusUnavailable as error:
        print(f"conformance: cannot fetch the mypy {version} sdist: {error}", file=sys.stderr)
        return 2
    cases = select(root, args.files, parse_shard(args.shard), args.limit, args.fixture_cases, args.cases)
    warm = warm_cache_factory(args.cache_dir)
    kept = sum(case.skip is None for case in cases)
    workers = args.workers or [0]
    print(
        f"mypy {version}: {kept} cases to run, {len(cases) - kept} skipped, {args.jobs} jobs,"
        f" mypy-split at -n {', '.join(map(str, workers))}",
        flush=True,
    )

    def progress(outcome: Outcome) -> None:
        if args.verbose:
            verdict = "identical" if outcome.difference is None else "DIFFERENT"
            print(f"{outcome.case.where}: {verdict} ({outcome.seconds:.1f}s)", flush=True)
            if args.show_diffs and outcome.difference is not None:
                print("    " + outcome.difference.rstrip("\n").replace("\n", "\n    "), flush=True)

    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mypy-conformance-") as workroot:
        outcomes = run_cases(cases, warm, Path(workroot), args.jobs, workers, args.cross_check, progress)
    status = report(cases, outcomes, args.show_diffs)
    print(f"\n{len(outcomes)} cases in {time.perf_counter() - start:.0f}s")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
