"""mypy's own `check-*.test` cases as differential cases: fetch, parse, run.

The cases come from the sdist of the installed mypy, downloaded from the
package index at run time and kept in a cache folder outside git.  mypy's own
runner checks them against small fake stdlib fixtures and compares with the
expected output written in the case; we run them against the real typeshed,
so those expectations do not apply.  Each case is only a program here, and the
question is whether `mypy-split` answers it exactly as `mypy` does.

The layout follows mypy's runner: the case's files live under `tmp/` of the
project (so flags such as `--config-file tmp/mypy.ini` work unchanged), the
main program is `tmp/main.py`, both tools run from the project root.
"""

from __future__ import annotations

import concurrent.futures
import difflib
import fcntl
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from mypy_split.build_worker.faults import FAILED_TASKS_FATAL
from mypy_split.test.casefile import Case, Step
from mypy_split.test.differential import (
    MYPY,
    MYPY_SPLIT,
    RunResult,
    durations_masked,
    apply_step,
    run_tool,
    stale_lines,
    without_log,
)

DEFAULT_INDEX = "https://pypi.org/simple"
# What mypy's runner does for every case that we can say on a command line.
_EXTRA_FLAGS = ["--no-site-packages"]
_MIN_PYTHON = (3, 10)
_FILE_PYTHON = re.compile(r"python3(\d+)\.test$")
_STEP_SUFFIX = re.compile(r"^(.*)\.(\d+)$")
_CMD = re.compile(r"# cmd(\d*): mypy -m ([a-zA-Z0-9_. ]+)$", re.MULTILINE)
_FLAGS = re.compile(r"# flags(\d*): (.*)$", re.MULTILINE)
_OUT_N = re.compile(r"^out(\d+)$")
# Whole files that cannot run here, and why.
_SKIPPED_FILES = {"check-modules-case.test": "needs a case-insensitive file system"}

WarmCache = Callable[[list[str]], Path]


class CorpusUnavailable(Exception):
    """The sdist could not be downloaded (no network, no such release, bad hash)."""


@dataclass(frozen=True)
class CorpusCase:
    """One `[case]`: a runnable `Case`, or the reason it is skipped."""

    case: Case
    skip: str | None = None

    @property
    def where(self) -> str:
        return f"{self.case.source}:{self.case.line} [{self.case.name}]"


@dataclass(frozen=True)
class Outcome:
    case: CorpusCase
    difference: str | None  # None: identical on every step
    seconds: float = 0.0


# --- fetching ---------------------------------------------------------------


def engine_version() -> str:
    return metadata.version("mypy")


def fetch_corpus(cache_dir: Path, version: str, index_url: str = DEFAULT_INDEX) -> Path:
    """Download (once) and unpack the test data of mypy's sdist; return its root.

    The root holds `test-data/unit/check-*.test` and `test-data/unit/plugins/`.
    """
    cache_dir = cache_dir.resolve()
    cache_dir.mkdir(parents=True, exist_ok=True)
    root = cache_dir / f"mypy-{version}"
    with _locked(cache_dir / f"mypy-{version}.lock"):
        if (root / ".complete").exists():
            return root
        sdist = cache_dir / f"mypy-{version}.tar.gz"
        if not sdist.exists():
            url, sha256 = _find_sdist(index_url, version)
            data = _download(url)
            if hashlib.sha256(data).hexdigest() != sha256:
                raise CorpusUnavailable(f"{url}: sha256 does not match the index")
            partial = sdist.with_name(sdist.name + ".part")
            partial.write_bytes(data)
            partial.replace(sdist)
        _extract_test_data(sdist, root)
        (root / ".complete").touch()
    return root


def _find_sdist(index_url: str, version: str) -> tuple[str, str]:
    """The sdist's URL and sha256, from the index's page for mypy (PEP 691 or 503)."""
    filename = f"mypy-{version}.tar.gz"
    page_url = index_url.rstrip("/") + "/mypy/"
    accept = "application/vnd.pypi.simple.v1+json, text/html;q=0.1"
    try:
        request = urllib.request.Request(page_url, headers={"Accept": accept})
        with urllib.request.urlopen(request, timeout=60) as response:
            kind = response.headers.get_content_type()
            body = response.read().decode("utf-8")
        entries = json.loads(body).get("files", []) if kind.endswith("json") else None
    except (OSError, ValueError) as error:
        raise CorpusUnavailable(f"{page_url}: {error}") from error
    if entries is not None:
        for entry in entries:
            if entry.get("filename") == filename and "sha256" in entry.get("hashes", {}):
                return urllib.parse.urljoin(page_url, entry["url"]), entry["hashes"]["sha256"]
    else:
        for href in re.findall(r'href="([^"]+)"', body):
            url, _, fragment = href.partition("#sha256=")
            if url.split("/")[-1] == filename and fragment:
                return urllib.parse.urljoin(page_url, url), fragment
    raise CorpusUnavailable(f"{page_url}: no {filename} with a sha256")


def _download(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=300) as response:
            data: bytes = response.read()
            return data
    except (OSError, ValueError) as error:
        raise CorpusUnavailable(f"{url}: {error}") from error


def _extract_test_data(sdist: Path, root: Path) -> None:
    """Copy `test-data/unit/{check-*.test,plugins/*}` out of the tarball (no other file)."""
    prefix = f"{root.name}/test-data/unit/"
    with tarfile.open(sdist) as tar:
        for member in tar.getmembers():
            if not member.isfile() or not member.name.startswith(prefix):
                continue
            relative = member.name[len(prefix) :]
            parts = relative.split("/")
            wanted = (len(parts) == 1 and re.fullmatch(r"check-.*\.test", relative)) or (
                parts[0] == "plugins" and len(parts) == 2
            )
            if not wanted or ".." in parts:
                continue
            source = tar.extractfile(member)
            if source is None:
                continue
            target = root / "test-data" / "unit" / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read())


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


# --- parsing ----------------------------------------------------------------


@dataclass
class _Section:
    kind: str
    argument: str
    line: int
    lines: list[str] = field(default_factory=list)

    def text(self) -> str:
        return _body_text(self.lines)


def check_files(root: Path) -> list[Path]:
    return sorted((root / "test-data" / "unit").glob("check-*.test"))


def parse_test_file(path: Path, corpus_root: Path, fixture_cases: bool = False) -> list[CorpusCase]:
    """Every `[case]` of one mypy test file, runnable or with the reason it is skipped.

    Cases written for mypy's fake stdlib fixtures are skipped unless
    `fixture_cases`: then they run as programs on the real typeshed.
    """
    groups: list[list[_Section]] = []
    for section in _sections(path.read_text(encoding="utf-8")):
        if section.kind == "case":
            groups.append([section])
        elif groups:
            groups[-1].append(section)
    return [_make_case(path.name, group[0], group[1:], corpus_root, fixture_cases) for group in groups]


def _sections(text: str) -> list[_Section]:
    """Split mypy's format into `[kind argument]` sections, dropping `--` comments."""
    sections: list[_Section] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if line.startswith("[") and line.strip().endswith("]"):
            kind, _, argument = line.strip()[1:-1].partition(" ")
            sections.append(_Section(kind, argument.strip(), number))
        elif not sections:
            continue
        elif line.startswith("\\["):  # an escaped line that would look like a header
            sections[-1].lines.append(line[1:])
        elif line.startswith("----"):  # an escaped line that would look like a comment
            sections[-1].lines.append(line[2:])
        elif not line.startswith("--"):
            sections[-1].lines.append(line)
    return sections


def _body_text(lines: list[str]) -> str:
    """Join `\\`-continued lines, strip trailing blanks: the text mypy's runner writes."""
    joined: list[str] = []
    continued = False
    for line in lines:
        piece = line[:-1] if line.endswith("\\") else line
        if continued:
            joined[-1] += piece.lstrip(" ")
        else:
            joined.append(piece)
        continued = line.endswith("\\")
    stripped = [line.rstrip() for line in joined]
    while stripped and not stripped[-1]:
        stripped.pop()
    return "\n".join(stripped)


def _make_case(
    file_name: str, header: _Section, sections: list[_Section], corpus_root: Path, fixture_cases: bool
) -> CorpusCase:
    name = header.argument
    case = Case(name=name, source=file_name, line=header.line, steps=[])
    skip = _skip_reason(file_name, name, sections, fixture_cases)
    if skip is not None:
        return CorpusCase(case, skip)
    main = header.text()
    root_text = str(corpus_root)
    writes: dict[int, dict[str, str]] = {1: {}}
    deletes: dict[int, list[str]] = {}
    last_step = 2 if _runs_twice(file_name, name) else 1
    for section in sections:
        numbered = _STEP_SUFFIX.match(section.argument)
        step = int(numbered.group(2)) if numbered and int(numbered.group(2)) >= 2 else 1
        path = "tmp/" + (numbered.group(1) if step > 1 and numbered else section.argument)
        if section.kind == "file":
            writes.setdefault(step, {})[path] = section.text().replace("<ROOT>", root_text)
        elif section.kind == "delete":
            deletes.setdefault(step, []).append(path)
        elif out := _OUT_N.match(section.kind):
            step = int(out.group(1))
        else:
            continue
        last_step = max(last_step, step)
    flags = {int(m.group(1) or 1): m.group(2).split() for m in reversed(list(_FLAGS.finditer(main)))}
    cmds = {int(m.group(1) or 1): m.group(2).split() for m in reversed(list(_CMD.finditer(main)))}
    last_step = max([last_step, *flags, *cmds])
    if 1 not in cmds:
        if any("tmp/main.py" in files for files in writes.values()):
            return CorpusCase(case, "has both a main program and a [file main.py]")
        writes[1]["tmp/main.py"] = main
    env: dict[str, str] = {}
    if any("plugins" in text for files in writes.values() for text in files.values()):
        # Plugins named by module, as mypy's runner finds them.
        env["PYTHONPATH"] = str(corpus_root / "test-data" / "unit" / "plugins")
    for number in range(1, last_step + 1):
        modules = cmds.get(number, cmds.get(1))
        targets = [arg for module in modules for arg in ("-m", module)] if modules else ["tmp/main.py"]
        step_env = {**env, "MYPYPATH": "tmp"} if modules else env
        step_flags = flags.get(number, flags.get(1, []))
        case.steps.append(
            Step(
                flags=step_flags + _implied_flags(file_name, step_flags),
                targets=targets,
                env=step_env,
                writes=writes.get(number, {}),
                deletes=deletes.get(number, []),
            )
        )
    return CorpusCase(case)


def _skip_reason(
    file_name: str, name: str, sections: list[_Section], fixture_cases: bool
) -> str | None:
    if file_name in _SKIPPED_FILES:
        return _SKIPPED_FILES[file_name]
    if name.endswith(("-skip", "-xfail")):
        return "marked " + name.rsplit("-", 1)[1]
    if not fixture_cases and any(section.kind in ("builtins", "typing") for section in sections):
        return "uses fake stdlib fixtures"
    return None


def _runs_twice(file_name: str, name: str) -> bool:
    """mypy's runner checks these cases twice: cold, then on the cache it left."""
    return "incremental" in name.lower() or "incremental" in file_name or "serialize" in file_name


def _implied_flags(file_name: str, flags: list[str]) -> list[str]:
    """The options mypy's runner sets from the file name, written as flags."""
    implied = list(_EXTRA_FLAGS)
    if not any(flag.split("=")[0] == "--python-version" for flag in flags):
        match = _FILE_PYTHON.search(file_name)
        version = max((3, int(match.group(1))), _MIN_PYTHON) if match else _MIN_PYTHON
        implied += ["--python-version", f"{version[0]}.{version[1]}"]
    if "columns" in file_name:
        implied.append("--show-column-numbers")
    return implied


# --- running ----------------------------------------------------------------


@dataclass(frozen=True)
class Tool:
    label: str
    command: list[str]
    extra_args: tuple[str, ...] = ()
    # With workers, `-v` logs the coordinator's own steps, not mypy's lines
    # (README, "Known limits"): only the answer is compared then.
    same_log: bool = True


REFERENCE = Tool("mypy", MYPY)


def split_tools(workers: Sequence[int]) -> list[Tool]:
    """`mypy-split` at each worker count (0: no `-n`, as a drop-in is called)."""
    return [
        Tool(f"mypy-split -n {n}", MYPY_SPLIT, ("-n", str(n)), same_log=False) if n else Tool("mypy-split", MYPY_SPLIT)
        for n in workers
    ]


def run_case(
    case: Case, workdir: Path, warm_cache: Path, tools: Sequence[Tool], cross_check: bool = False
) -> str | None:
    """Run every step through mypy and each tool, each on its own cache; describe the first difference.

    `-v` logs name the cache folder and time things: each tool's cache is
    moved to the same folder for its runs, and durations are masked.
    """
    project = workdir / "project"
    project.mkdir(parents=True)
    caches = {tool.label: workdir / f"cache-{i}" for i, tool in enumerate([REFERENCE, *tools])}
    for cache in caches.values():
        shutil.copytree(warm_cache, cache, symlinks=True)
    base_mtime = int(time.time()) - 1000

    def run(tool: Tool, step: Step, env: dict[str, str] | None = None) -> RunResult:
        active = workdir / "cache"
        caches[tool.label].rename(active)
        try:
            args = [*step.args, *tool.extra_args]
            result = run_tool(tool.command, args, project, active, {**step.env, **(env or {})})
        finally:
            active.rename(caches[tool.label])
        return durations_masked(result)

    for index, step in enumerate(case.steps):
        where = f"step {index + 1} ({' '.join(step.args)})"
        try:
            apply_step(project, step, index, base_mtime)
            expected = run(REFERENCE, step)
            for tool in tools:
                actual = run(tool, step, failing_as_mypy_fails(expected))
                wanted = expected if tool.same_log else without_log(expected)
                if not tool.same_log:
                    actual = without_log(actual)
                if actual != wanted:
                    return f"{where}: {tool.label} differs\n" + describe_difference(wanted, actual, tool.label)
        except (OSError, subprocess.SubprocessError) as error:
            return f"{where}: harness error: {error!r}"
    last = case.steps[-1]
    if cross_check and "--no-incremental" not in last.flags:
        for tool in tools:
            problem = _cross_check(last, project, workdir, caches[REFERENCE.label], tool, caches[tool.label])
            if problem is not None:
                return f"step {len(case.steps)}: {problem}"
    return None


def failing_as_mypy_fails(expected: RunResult) -> dict[str, str]:
    """The environment for mypy-split's run of a step that gave mypy's `expected`.

    Where mypy itself fails inside (a test plugin's assertion), a worker's
    task fails too, and only the default handling of that (the SCC checked
    again in the coordinator) gives mypy's report of it: the setting that
    makes such a failure end the run is lifted.
    """
    return {FAILED_TASKS_FATAL: ""} if "error: INTERNAL ERROR" in expected.stdout + expected.stderr else {}


def last_build(result: RunResult) -> RunResult:
    """The run with only its last build's log.

    A blocker that only a whole tree shows, found by a worker, makes
    mypy-split build again without workers, as mypy's single build would
    have stopped (parse_gate.py); with `-v` both builds log (README, "Known
    limits"), and the first one's stale SCCs are not the answer's.
    """
    # Each build's log begins with an empty line; what comes before the first
    # (a warning about the configuration, say) is the run's.
    header = "\nLOG:  Mypy Version:"
    first, last = result.stderr.find(header), result.stderr.rfind(header)
    if first == last:
        return result
    return RunResult(result.stdout, result.stderr[:first] + result.stderr[last:], result.returncode)


def _cross_check(step: Step, project: Path, workdir: Path, mypy_cache: Path, tool: Tool, cache: Path) -> str | None:
    """Each tool on the other's cache answers as mypy on its own and finds nothing stale."""

    def verbose(command: Tool, source: Path, env: dict[str, str] | None = None) -> RunResult:
        copy = workdir / "cross"
        shutil.copytree(source, copy, symlinks=True)
        try:
            args = [*step.args, *command.extra_args, "-v"]
            return run_tool(command.command, args, project, copy, {**step.env, **(env or {})})
        finally:
            shutil.rmtree(copy, ignore_errors=True)

    own = verbose(REFERENCE, mypy_cache)
    for command, source, who in (
        (REFERENCE, cache, f"mypy on the {tool.label} cache"),
        (tool, mypy_cache, f"{tool.label} on mypy's cache"),
    ):
        crossed = last_build(verbose(command, source, failing_as_mypy_fails(own)))
        stale = [line for line in stale_lines(crossed) if line not in stale_lines(own)]
        if stale:
            return f"{who} finds stale SCCs\n" + "\n".join(stale) + "\n"
        if without_log(crossed) != without_log(own):
            return f"{who} answers differently\n" + describe_difference(
                without_log(own), without_log(crossed), who
            )
    return None


def describe_difference(expected: RunResult, actual: RunResult, label: str) -> str:
    lines = difflib.unified_diff(
        expected.describe().splitlines(keepends=True),
        actual.describe().splitlines(keepends=True),
        fromfile="mypy",
        tofile=label,
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def run_cases(
    cases: Sequence[CorpusCase],
    warm: WarmCache,
    workroot: Path,
    jobs: int = 1,
    workers: Sequence[int] = (0,),
    cross_check: bool = False,
    on_done: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Run the kept cases on `jobs` threads (the work is in subprocesses); outcomes in order.

    `mypy-split` runs at each of `workers` counts.  A case that differs is run
    once more with `mypy` against `mypy`, so the report can tell a mypy-split
    bug from mypy answering differently by itself.
    """
    tools = split_tools(workers)

    def one(item: CorpusCase) -> Outcome:
        start = time.perf_counter()
        cache = warm(item.case.steps[0].flags)
        with tempfile.TemporaryDirectory(dir=workroot) as workdir:
            difference = run_case(item.case, Path(workdir), cache, tools, cross_check)
        if difference is not None:
            with tempfile.TemporaryDirectory(dir=workroot) as workdir:
                itself = run_case(item.case, Path(workdir), cache, [Tool("mypy (again)", MYPY)])
            if itself is not None:
                difference += "note: mypy also differs from itself on this case:\n" + itself
        outcome = Outcome(item, difference, time.perf_counter() - start)
        if on_done is not None:
            on_done(outcome)
        return outcome

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(one, [item for item in cases if item.skip is None]))


def warm_cache_factory(root: Path) -> WarmCache:
    """Typeshed-only caches, one per distinct flag set, built with conftest's recipe."""
    from mypy_split.test.conftest import _build_warm_cache, cacheable_flags

    root = root / f"warm-mypy{engine_version()}-py{sys.version_info[0]}.{sys.version_info[1]}"
    root.mkdir(parents=True, exist_ok=True)
    return lambda flags: _build_warm_cache(root, cacheable_flags(flags))
