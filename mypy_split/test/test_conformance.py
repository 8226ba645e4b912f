"""A fixed sample of mypy's own check-*.test cases: mypy-split (-n 0 and -n 2) answers as mypy does.

Opt-in (`pytest -m conformance`): it downloads the mypy sdist once into
misc/.corpora/.  The full suite is `python misc/conformance.py`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mypy_split.build_worker.faults import FAILED_TASKS_FATAL
from mypy_split.test.conftest import WarmCache
from mypy_split.test.differential import RunResult, stale_lines
from mypy_split.test.mypy_corpus import (
    CorpusCase,
    CorpusUnavailable,
    engine_version,
    failing_as_mypy_fails,
    fetch_corpus,
    last_build,
    parse_test_file,
    run_cases,
)

CORPUS_CACHE = Path(__file__).resolve().parents[2] / "misc" / ".corpora"

# A little of everything the corpus exercises: plain programs, `# cmd: mypy -m`,
# config files, plugins, inline config, column numbers, two-step cases.
SAMPLE = {
    "check-basic.test": ["testAssignmentAndVarDef", "testTooManyConstructorArgs"],
    "check-classes.test": ["testMethodCallWithInvalidNumberOfArguments", "testMethodBody"],
    "check-functions.test": ["testSubtypingFunctionTypes"],
    "check-generics.test": ["testGenericMethodArgument", "testMultipleGenericTypeParametersAndSubtyping"],
    "check-columns.test": ["testColumnsNestedFunctions"],
    "check-errorcodes.test": ["testErrorCodeSyntaxError"],
    "check-flags.test": ["testSubclassingAnySilentImports"],
    "check-custom-plugin.test": ["testFunctionPlugin", "testFunctionPluginFile"],
    "check-inline-config.test": ["testInlineIncremental3", "testInlineStrict"],
    "check-modules.test": ["testTypeIgnoredImportsWorkWithCacheIncremental2"],
    "check-python312.test": ["testPEP695Class"],
    "check-protocols.test": ["testSimpleProtocolOneMethodOverride"],
    "check-serialize.test": ["testSerializeGenericFunction"],
}


def sample_cases(root: Path) -> list[CorpusCase]:
    chosen: list[CorpusCase] = []
    for file_name, names in SAMPLE.items():
        cases = parse_test_file(root / "test-data" / "unit" / file_name, root)
        by_name = {item.case.name: item for item in cases}
        for name in names:
            item = by_name[name]
            assert item.skip is None, f"{item.where} is skipped: {item.skip}"
            chosen.append(item)
    return chosen


@pytest.mark.conformance
def test_mypy_sample_same_answer(tmp_path: Path, warm_cache: WarmCache) -> None:
    try:
        root = fetch_corpus(CORPUS_CACHE, engine_version())
    except CorpusUnavailable as error:
        pytest.skip(f"cannot download the mypy {engine_version()} sdist: {error}")
    outcomes = run_cases(sample_cases(root), warm_cache, tmp_path, jobs=2, workers=(0, 2))
    different = [f"{o.case.where} {o.difference}" for o in outcomes if o.difference is not None]
    assert not different, "\n".join(different)


STALE = "LOG:  Scheduling SCC singleton (main) as inherently stale\n"
HEADER = "\nLOG:  Mypy Version:           2.4.1\n"


def test_last_build_drops_a_first_build_given_up() -> None:
    """Built again without workers after a late blocker: only the second build's stale SCCs count."""
    twice = RunResult("main.py:3: error: x\n", HEADER + STALE + "LOG:  Bailing\n" + HEADER + "LOG:  Bailing\n", 2)
    last = last_build(twice)
    assert (last.stdout, last.returncode) == (twice.stdout, twice.returncode)
    assert last.stderr == HEADER + "LOG:  Bailing\n"
    assert stale_lines(twice) and not stale_lines(last)
    once = RunResult("", HEADER + STALE, 0)
    assert last_build(once) == once
    warned = RunResult("", "mypy.ini: [mypy]: python_version: ...\n" + twice.stderr, 2)
    assert last_build(warned).stderr == "mypy.ini: [mypy]: python_version: ...\n" + HEADER + "LOG:  Bailing\n"


def test_mypy_internal_error_lifts_the_fatal_setting() -> None:
    crashed = RunResult("", "main.py:15: error: INTERNAL ERROR -- Please try using mypy master\n", 2)
    assert failing_as_mypy_fails(crashed) == {FAILED_TASKS_FATAL: ""}
    assert failing_as_mypy_fails(RunResult("main.py:1: error: x  [misc]\n", "", 1)) == {}
