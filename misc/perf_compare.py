"""Time `mypy -n N` against `mypy-split -n M` on real corpora, honestly.

For each corpus (see misc/corpora.py) and scenario, every tool runs once per
round, in a new shuffled order each round, so that drift on a busy machine
hits all tools alike.  Each run is measured for wall time, CPU time of the
whole process tree and of the tool's main process alone (the coordinator,
where there are workers; read from /proc every 10 ms, so up to one period
short), and the peak of the tree's summed resident memory.  The report gives
per tool the medians, the spread, and ratios against the first tool.

    python misc/perf_compare.py --tools mypy:0,mypy:2,split:0,split:2 \\
        --corpora selfcheck,tiny --scenarios cold,warm,edit-leaf --rounds 7

Tools are `mypy:N` and `split:N`, N a count or `auto`; the first is the
baseline of every ratio.  Scenarios (each tool has a cache of its own, set up
before the clock starts, so every tool starts from the same state):
    cold                 an empty cache
    warm                 a copy of the tool's own fully fresh cache
    edit-leaf            the same, after a one-line edit of a function body in
                         a leaf module (one no module of the corpus imports)
    edit-core-body       the same edit in the core module (the one imported by
                         the most modules): its interface does not change
    edit-core-interface  a new public function added to the core module: every
                         module importing it must be checked again
The leaf and core modules are chosen per corpus from its imports (see
misc/edits.py) and named in the report; each edit is undone (bytes and
mtime) right after its timed run.

Memory is the sum of RSS over all processes, so pages that processes share
(forked workers' untouched pages, the mapped code of the compiled engine)
are counted once per process: an upper bound on what the tree needs.  The
`pss` column is the sum of proportional set sizes (each shared page split
among its sharers, from /proc/<pid>/smaps_rollup), what the tree takes
from the machine; reading it costs ~1.5 ms per 300 MiB process, so it is
read only when the RSS sum has grown 2 % since the last reading (its peak
is then within ~2 % of the truth).
"""

from __future__ import annotations

import argparse
import compileall
import ctypes
import os
import random
import shlex
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # corpora.py, also under PYTHONSAFEPATH

import edits  # noqa: E402
from corpora import (  # noqa: E402
    SCRATCH,
    Corpus,
    Tool,
    copy_cache,
    parse_tool,
    select_corpora,
    tool_env,
)

SCENARIOS = ("cold", "warm", "edit-leaf", "edit-core-body", "edit-core-interface")
SAMPLE_PERIOD = 0.01
# Finding new processes means reading every /proc/*/stat: do it every tenth sample.
RESCAN_EVERY = 10
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
PR_SET_CHILD_SUBREAPER = 36
# How long a tool's leftover processes may outlive it before we stop waiting.
ORPHAN_GRACE = 30.0


# ---------------------------------------------------------------- one measurement


@dataclass(frozen=True)
class Sample:
    wall: float  # seconds, start to the tool's exit
    cpu: float  # user + system seconds of every process of the tree
    peak: int  # bytes, the largest summed RSS seen
    returncode: int
    load: float  # 1-minute load average when the run started
    # The end of what a failed run (exit other than 0 or 1) wrote to stderr.
    failure: str = ""
    # user + system seconds of the tool's main process alone, as last seen (0 without /proc).
    main_cpu: float = 0.0
    # bytes, the largest summed PSS read (0 where smaps_rollup cannot be read).
    peak_pss: int = 0


def become_subreaper() -> bool:
    """Adopt the tool's orphaned processes, so their CPU time and memory still count."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        result: int = libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        return False
    return result == 0


def stat_fields(pid: int) -> list[bytes] | None:
    """The fields of /proc/<pid>/stat after the command name (state first), or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:
            data = file.read()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: split after its last ')'.
    return data[data.rindex(b")") + 2 :].split()


def read_stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, RSS in pages) from /proc/<pid>/stat, or None if it is gone."""
    fields = stat_fields(pid)
    return None if fields is None else (int(fields[1]), int(fields[21]))


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def read_cpu(pid: int) -> float | None:
    """User + system seconds of one process so far (not its children's), from /proc/<pid>/stat."""
    fields = stat_fields(pid)
    return None if fields is None else (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def read_rss(pid: int) -> int | None:
    """Resident pages of one process, from the short /proc/<pid>/statm."""
    try:
        with open(f"/proc/{pid}/statm", "rb") as file:
            return int(file.read().split()[1])
    except (OSError, IndexError, ValueError):
        return None


def read_pss(pid: int) -> int | None:
    """Proportional set size of one process in bytes, from /proc/<pid>/smaps_rollup (Linux 4.14 on)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as file:
            for line in file:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, IndexError, ValueError):
        return None
    return None


# The growth of the summed RSS that prompts another reading of the PSS.
PSS_STEP = 1.02


def descendants(root: int) -> set[int]:
    """Every process below `root`, found by the parent pid in /proc/*/stat.

    (/proc/<pid>/task/<tid>/children would be cheaper but is often compiled out.)
    """
    parents: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            stat = read_stat(int(name))
            if stat is not None:
                parents[int(name)] = stat[0]
    found: set[int] = set()
    frontier = {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


class TreeSampler(threading.Thread):
    """Samples the summed RSS of all our descendants every ~10 ms; keeps the peak.

    Our own process is the root (not the tool's), so orphans adopted as
    subreaper stay in view.
    """

    def __init__(self, main_pid: int) -> None:
        super().__init__(daemon=True)
        self.main_pid = main_pid
        # The main process's own CPU seconds at the last sample that saw it.
        self.main_cpu = 0.0
        self.peak_pages = 0
        self.peak_pss = 0
        # The RSS sum at the last reading of the PSS.
        self._pss_read_at = 0
        self.available = os.path.isdir("/proc/self")
        self._stop_event = threading.Event()

    def run(self) -> None:
        if not self.available:
            return
        tree: set[int] = set()
        tick = 0
        while not self._stop_event.is_set():
            if tick % RESCAN_EVERY == 0 or not tree:
                tree = descendants(os.getpid())
            sizes = {pid: read_rss(pid) for pid in tree}
            tree = {pid for pid, size in sizes.items() if size is not None}
            total = sum(size or 0 for size in sizes.values())
            self.peak_pages = max(self.peak_pages, total)
            if total > self._pss_read_at * PSS_STEP:
                self._pss_read_at = total
                self.peak_pss = max(self.peak_pss, sum(read_pss(pid) or 0 for pid in tree))
            main_cpu = read_cpu(self.main_pid)
            if main_cpu is not None:
                self.main_cpu = main_cpu
            tick += 1
            self._stop_event.wait(SAMPLE_PERIOD)

    def stop(self) -> int:
        """Stop sampling; the peak in bytes (0 without /proc)."""
        self._stop_event.set()
        self.join()
        return self.peak_pages * PAGE_SIZE


def reap_orphans() -> None:
    """Wait for adopted leftovers of the tool, so their CPU time lands in our children's rusage."""
    deadline = time.monotonic() + ORPHAN_GRACE
    while True:
        try:
            pid, _, _ = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            if time.monotonic() > deadline:
                print("warning: the tool left processes running; their time is not counted", file=sys.stderr)
                return
            time.sleep(SAMPLE_PERIOD)


def cpu_seconds(usage: resource.struct_rusage) -> float:
    return usage.ru_utime + usage.ru_stime


# Seconds after which one run counts as hung (or PERF_COMPARE_RUN_TIMEOUT).
RUN_TIMEOUT = 300.0
# Characters of a failed run's stderr shown with its round.
FAILURE_TAIL = 4000


def measure(argv: list[str], cwd: Path, env: dict[str, str]) -> Sample:
    """Run one command with its output discarded; wall, tree CPU and peak tree memory."""
    reap_orphans()  # nothing left from the set-up runs may be counted here
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    # stderr goes to a file, read only if the run fails: a pipe would need a reader thread.
    errors = tempfile.TemporaryFile()
    process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=errors)
    sampler = TreeSampler(process.pid)
    sampler.start()
    # A run that hangs is killed and shows as exit -9 in the summary.
    killer = threading.Timer(float(os.environ.get("PERF_COMPARE_RUN_TIMEOUT", RUN_TIMEOUT)), process.kill)
    killer.start()
    # wait4 rather than Popen.wait: it also gives the child's own max RSS.
    _, status, usage = os.wait4(process.pid, 0)
    killer.cancel()
    wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    reap_orphans()
    peak = sampler.stop()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # Without /proc, the largest single process is what we know.  Only then:
    # on Linux a child's max RSS also counts what its parent (this script,
    # holding the corpus's import graph) had resident when it was forked.
    if not sampler.available:
        peak = usage.ru_maxrss * 1024
    failure = ""
    if process.returncode not in (0, 1):
        errors.seek(0)
        failure = errors.read().decode(errors="replace")[-FAILURE_TAIL:]
    errors.close()
    return Sample(
        wall, cpu_seconds(after) - cpu_seconds(before), peak, process.returncode, load, failure, sampler.main_cpu,
        sampler.peak_pss,
    )


# ---------------------------------------------------------------- scenarios


class Bench:
    """The caches of one corpus: a scratch cache per tool, and a pristine warm one to copy."""

    def __init__(self, corpus: Corpus, scratch: Path, flags: Sequence[str] = ()) -> None:
        self.corpus = corpus
        self.scratch = scratch
        # Given to every tool after the corpus's own arguments (`--flags`).
        self.flags = list(flags)
        self.pristine: dict[Tool, Path] = {}
        self._targets: edits.Targets | None = None

    @property
    def targets(self) -> edits.Targets:
        """The leaf and core modules to edit, found once per corpus."""
        if self._targets is None:
            try:
                self._targets = edits.choose_targets(self.corpus.roots)
            except ValueError as error:
                sys.exit(f"{self.corpus.name}: cannot choose the modules to edit: {error}")
        return self._targets

    def edit_for(self, scenario: str) -> tuple[Path, str] | None:
        """(file, edit kind) for an edit scenario, None for cold and warm."""
        if scenario == "edit-leaf":
            return self.targets.leaf, "body"
        if scenario == "edit-core-body":
            return self.targets.core, "body"
        if scenario == "edit-core-interface":
            return self.targets.core, "interface"
        return None

    def command(self, tool: Tool) -> list[str]:
        return self.corpus.command(tool, self.flags)

    def cache(self, tool: Tool) -> Path:
        return self.scratch / f"cache-{tool.slug}"

    def fresh_cache(self, tool: Tool) -> Path:
        """The tool's own fully fresh cache, built once (a cold run, then a warm one)."""
        if tool not in self.pristine:
            path = self.scratch / f"pristine-{tool.slug}"
            for _ in range(2):
                completed = subprocess.run(
                    self.command(tool), cwd=self.corpus.cwd, env=tool_env(path, tool), capture_output=True
                )
                if completed.returncode not in (0, 1):
                    sys.exit(f"{tool.label} failed on {self.corpus.name} (exit {completed.returncode}):\n"
                             f"{completed.stdout.decode()}{completed.stderr.decode()}")
            self.pristine[tool] = path
        return self.pristine[tool]

    def timed_run(self, tool: Tool, scenario: str) -> Sample:
        cache = self.cache(tool)
        if scenario == "cold":
            shutil.rmtree(cache, ignore_errors=True)
        else:
            copy_cache(self.fresh_cache(tool), cache)
        command = self.command(tool)
        edit = self.edit_for(scenario)
        if edit is not None:
            with edits.edited(*edit):
                return measure(command, self.corpus.cwd, tool_env(cache, tool))
        return measure(command, self.corpus.cwd, tool_env(cache, tool))


def run_rounds(
    bench: Bench, scenario: str, tools: list[Tool], rounds: int, rng: random.Random
) -> dict[Tool, list[Sample]]:
    samples: dict[Tool, list[Sample]] = {tool: [] for tool in tools}
    if bench.edit_for(scenario) is not None:
        print(f"  {bench.corpus.name}/{scenario}: {describe_edit(bench, scenario).strip()}", file=sys.stderr)
    for tool in tools:
        if scenario != "cold":
            bench.fresh_cache(tool)  # built before any clock starts
    for round_index in range(rounds):
        order = list(tools)
        rng.shuffle(order)
        for tool in order:
            sample = bench.timed_run(tool, scenario)
            samples[tool].append(sample)
            print(
                f"  {bench.corpus.name}/{scenario} round {round_index + 1}/{rounds} {tool.label:<16} "
                f"wall {sample.wall:7.2f} s  cpu {sample.cpu:7.2f} s (main {sample.main_cpu:5.2f} s)  "
                f"peak {mib(sample.peak):6.0f} MiB (pss {mib(sample.peak_pss):4.0f})  "
                f"exit {sample.returncode}  load {sample.load:.1f}",
                file=sys.stderr,
            )
            if sample.failure:
                print(f"    its stderr ends:\n{sample.failure}", file=sys.stderr)
    return samples


# ---------------------------------------------------------------- report


def mib(size: float) -> float:
    return size / 2**20


def median_of(samples: list[Sample], value: Callable[[Sample], float]) -> float:
    return statistics.median(value(sample) for sample in samples)


def ratio(mine: float, base: float) -> str:
    """A ratio for the table, or "-" without a baseline (a measure this machine cannot read)."""
    return f"{mine / base:.3f}" if base else "-"


def paired_ratio(samples: list[Sample], baseline: list[Sample]) -> float:
    """The median of per-round wall ratios: drift within a round cancels."""
    return statistics.median(mine.wall / base.wall for mine, base in zip(samples, baseline))


def format_table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [row[0].ljust(widths[0]), *(cell.rjust(width) for cell, width in zip(row[1:], widths[1:]))]
        lines.append("  ".join(cells))
    return "\n".join(lines)


def describe_edit(bench: Bench, scenario: str) -> str:
    edit = bench.edit_for(scenario)
    if edit is None:
        return ""
    path, kind = edit
    importers = f", imported by {bench.targets.core_importers} modules" if path == bench.targets.core else ""
    return f"\n  edit: {kind} of {path}{importers}"


def report(bench: Bench, scenario: str, samples: dict[Tool, list[Sample]]) -> str:
    corpus = bench.corpus
    tools = list(samples)
    base = samples[tools[0]]
    rows = [[
        "tool", "wall med", "wall min-max", "wall IQR", "cpu med", "main cpu med", "peak MiB med",
        "pss MiB med", "wall ratio", "cpu ratio", "mem ratio", "pss ratio", "paired wall ratio",
    ]]
    for tool in tools:
        mine = samples[tool]
        walls = sorted(sample.wall for sample in mine)
        quartiles = statistics.quantiles(walls, n=4) if len(walls) > 1 else [walls[0]] * 3
        rows.append([
            tool.label,
            f"{median_of(mine, lambda s: s.wall):.2f} s",
            f"{walls[0]:.2f}-{walls[-1]:.2f} s",
            f"{quartiles[2] - quartiles[0]:.2f} s",
            f"{median_of(mine, lambda s: s.cpu):.2f} s",
            f"{median_of(mine, lambda s: s.main_cpu):.2f} s",
            f"{mib(median_of(mine, lambda s: s.peak)):.0f}",
            f"{mib(median_of(mine, lambda s: s.peak_pss)):.0f}",
            f"{median_of(mine, lambda s: s.wall) / median_of(base, lambda s: s.wall):.3f}",
            f"{median_of(mine, lambda s: s.cpu) / median_of(base, lambda s: s.cpu):.3f}",
            f"{median_of(mine, lambda s: s.peak) / median_of(base, lambda s: s.peak):.3f}",
            f"{ratio(median_of(mine, lambda s: s.peak_pss), median_of(base, lambda s: s.peak_pss))}",
            f"{paired_ratio(mine, base):.3f}",
        ])
    loads = [sample.load for tool_samples in samples.values() for sample in tool_samples]
    codes = sorted({sample.returncode for tool_samples in samples.values() for sample in tool_samples})
    rounds = len(base)
    header = (
        f"{corpus.name} / {scenario}: {rounds} rounds, shuffled order, {os.cpu_count()} CPUs, "
        f"1-min load {min(loads):.1f}-{max(loads):.1f}, exit codes {codes}\n"
        f"  cd {corpus.cwd} && PYTHONSAFEPATH=1 MYPY_CACHE_DIR=<own per tool> "
        f"{' '.join(bench.command(tools[0]))}{describe_edit(bench, scenario)}"
    )
    return f"{header}\n{format_table(rows)}"


# ---------------------------------------------------------------- command line


def parse_list(text: str, parse: Callable[[str], Tool]) -> list[Tool]:
    return [parse(part) for part in text.split(",") if part]


def with_bytecode(tools: Sequence[Tool]) -> None:
    """Time the tools as installed: with their modules' bytecode written, not compiled again on each run.

    pip writes bytecode when it installs; an editable checkout (and one put
    first on a tool's PYTHONPATH) has it only once something wrote it, which
    `PYTHONDONTWRITEBYTECODE` in the environment forbids.
    """
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    folders = {Path(__file__).resolve().parent.parent}
    for tool in tools:
        for setting in tool.env:
            name, _, value = setting.partition("=")
            if name == "PYTHONPATH":
                folders.update(Path(entry) for entry in value.split(os.pathsep) if entry)
    for folder in sorted(folders):
        package = folder / "mypy_split"
        if package.is_dir():
            compileall.compile_dir(str(package), quiet=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tools", default="mypy:0,split:0", help="mypy:N,split:M,...; the first is the baseline")
    parser.add_argument("--corpora", default="selfcheck", help="corpus names (misc/corpora.py show), comma-separated")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help=f"some of {','.join(SCENARIOS)}")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seed", type=int, default=None, help="for the shuffled order")
    parser.add_argument("--flags", default="", help="more arguments for every tool (shell syntax)")
    args = parser.parse_args(argv)
    tools = parse_list(args.tools, parse_tool)
    scenarios = args.scenarios.split(",")
    if not tools or len(set(tools)) != len(tools) or not set(scenarios) <= set(SCENARIOS) or args.rounds < 1:
        parser.error("need distinct tools, known scenarios and at least one round")
    if not become_subreaper():
        print("note: not a subreaper; orphaned worker processes would go uncounted", file=sys.stderr)
    with_bytecode(tools)
    rng = random.Random(args.seed)
    reports = []
    SCRATCH.mkdir(parents=True, exist_ok=True)
    for corpus in select_corpora(args.corpora):
        with tempfile.TemporaryDirectory(prefix="perf-", dir=SCRATCH) as scratch:
            bench = Bench(corpus, Path(scratch), shlex.split(args.flags))
            for scenario in scenarios:
                reports.append(report(bench, scenario, run_rounds(bench, scenario, tools, args.rounds, rng)))
    print("\n\n".join(reports))
    return 0


if __name__ == "__main__":
    sys.exit(main())
