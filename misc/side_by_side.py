"""Does this machine slow a process down when another runs beside it?  One cold run alone, then two at once.

A parallel checker's extra CPU time is partly its own work (two processes
loading what the other checked, starting up, collecting garbage) and partly
the machine's: two busy processes may share caches, memory bandwidth or a
physical core, and each then runs slower than alone.  This tells the two
apart: each round runs the tool once alone and then twice at the same time,
every run on an empty cache of its own, and reports the wall and CPU seconds
of each.  Use a single-process tool (`mypy:0`, the default): the CPU seconds
are the process's own, not its children's.

    python misc/side_by_side.py --corpora textual,selfcheck --rounds 3
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # corpora.py, also under PYTHONSAFEPATH

from corpora import SCRATCH, Corpus, Tool, parse_tool, select_corpora, tool_env  # noqa: E402


@dataclass(frozen=True)
class Run:
    wall: float
    cpu: float  # the process's own user + system seconds
    returncode: int


def start(corpus: Corpus, tool: Tool, cache: Path) -> tuple[subprocess.Popen[bytes], float]:
    shutil.rmtree(cache, ignore_errors=True)
    process = subprocess.Popen(
        corpus.command(tool), cwd=corpus.cwd, env=tool_env(cache, tool),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    return process, time.perf_counter()


def finish(process: subprocess.Popen[bytes], started: float) -> Run:
    # wait4 rather than Popen.wait: it also gives the process's own CPU time.
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return Run(time.perf_counter() - started, usage.ru_utime + usage.ru_stime, process.returncode)


def together(corpus: Corpus, tool: Tool, caches: list[Path]) -> list[Run]:
    """The tool run once per cache, all started at the same moment; each one's own measures."""
    runs: list[Run | None] = [None] * len(caches)
    started = [start(corpus, tool, cache) for cache in caches]

    def wait(index: int) -> None:
        runs[index] = finish(*started[index])

    waiters = [threading.Thread(target=wait, args=(index,)) for index in range(len(caches))]
    for waiter in waiters:
        waiter.start()
    for waiter in waiters:
        waiter.join()
    return [run for run in runs if run is not None]


def describe(runs: list[Run]) -> str:
    walls = ", ".join(f"{run.wall:.2f}" for run in runs)
    cpus = ", ".join(f"{run.cpu:.2f}" for run in runs)
    return f"wall {walls} s, cpu {cpus} s"


def compare(corpus: Corpus, tool: Tool, rounds: int, scratch: Path) -> str:
    alone: list[Run] = []
    paired: list[Run] = []
    lines = [f"{corpus.name}, {tool.label}, cold, each run on an empty cache of its own:"]
    for index in range(rounds):
        one = together(corpus, tool, [scratch / "alone"])
        two = together(corpus, tool, [scratch / "left", scratch / "right"])
        lines.append(f"  round {index + 1}: alone {describe(one)}; side by side {describe(two)}")
        alone += one
        paired += two
    if any(run.returncode not in (0, 1) for run in alone + paired):
        lines.append("  warning: some runs failed (exit codes other than 0 and 1)")
    slowdown = statistics.median(run.wall for run in paired) / statistics.median(run.wall for run in alone)
    cpu_ratio = statistics.median(run.cpu for run in paired) / statistics.median(run.cpu for run in alone)
    lines.append(f"  medians side by side against alone: wall {slowdown:.3f}x, cpu {cpu_ratio:.3f}x")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tool", default="mypy:0", type=parse_tool, help="one tool, mypy:0 by default")
    parser.add_argument("--corpora", default="textual", help="corpus names (misc/corpora.py show), comma-separated")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("need at least one round")
    SCRATCH.mkdir(parents=True, exist_ok=True)
    reports = []
    for corpus in select_corpora(args.corpora):
        with tempfile.TemporaryDirectory(prefix="side-", dir=SCRATCH) as scratch:
            reports.append(compare(corpus, args.tool, args.rounds, Path(scratch)))
    print("\n\n".join(reports))
    return 0


if __name__ == "__main__":
    sys.exit(main())
