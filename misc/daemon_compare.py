#!/usr/bin/env python3
"""Time `dmypy-split` against `dmypy` on a corpus: cold start, then a one-line edit.

Each round, in shuffled order per tool: the daemon is started on an empty
cache with `run -- ARGS` (the cold start an editor or a pre-commit user
waits for), then the corpus's core module (the module most others import) is
edited and `run` is timed again (the recheck latency), the edit is undone,
and the daemon is stopped.  The edit (`--edit`) adds one statement to a
function body (`body`, the default) or a new public function (`interface`,
which every module importing the core depends on).  Medians and ratios to
`dmypy` are printed.

    python misc/daemon_compare.py --corpora selfcheck --workers 2 --rounds 5 [--edit interface]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from corpora import BIN, Corpus, select_corpora, tool_env  # noqa: E402
from edits import choose_targets, edited  # noqa: E402

TIMEOUT = 900


@dataclass(frozen=True)
class Daemon:
    """`dmypy` or `dmypy-split -n N`, with its own status file."""

    script: str
    workers: int | None

    @property
    def label(self) -> str:
        return self.script if self.workers is None else f"{self.script} -n {self.workers}"

    def command(self, status_file: Path, *args: str) -> list[str]:
        return [str(BIN / self.script), "--status-file", str(status_file), *args]

    def run_args(self, corpus: Corpus) -> list[str]:
        extra = [] if self.workers is None else ["-n", str(self.workers)]
        return ["run", "--", *corpus.args, *extra]


def timed(argv: list[str], corpus: Corpus, cache: Path) -> tuple[float, int]:
    started = time.perf_counter()
    completed = subprocess.run(
        argv, cwd=corpus.cwd, env=tool_env(cache), capture_output=True, text=True, timeout=TIMEOUT
    )
    return time.perf_counter() - started, completed.returncode


def one_round(daemon: Daemon, corpus: Corpus, scratch: Path, settle: float, edit: str) -> tuple[float, float, int]:
    """(cold start seconds, recheck seconds, exit code of the recheck)."""
    cache = scratch / "cache"
    status = scratch / "status.json"
    shutil.rmtree(cache, ignore_errors=True)
    try:
        cold, cold_code = timed(daemon.command(status, *daemon.run_args(corpus)), corpus, cache)
        core = choose_targets(list(corpus.roots)).core if corpus.roots else corpus.edit_file
        # A person takes a moment before the first edit; a daemon may use it.
        time.sleep(settle)
        with edited(core, edit):
            recheck, code = timed(daemon.command(status, *daemon.run_args(corpus)), corpus, cache)
    finally:
        subprocess.run(daemon.command(status, "kill"), cwd=corpus.cwd, env=tool_env(cache), capture_output=True)
        # A killed daemon may leave its status file; the next start must not find it.
        status.unlink(missing_ok=True)
    if cold_code not in (0, 1):
        sys.exit(f"{daemon.label} failed to start (exit {cold_code})")
    return cold, recheck, code


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpora", default="selfcheck")
    parser.add_argument("--workers", type=int, default=2, help="dmypy-split's -n")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--settle", type=float, default=2.0, help="seconds between start and edit")
    parser.add_argument("--edit", choices=("body", "interface"), default="body", help="the edit of the core module")
    args = parser.parse_args()
    daemons = [Daemon("dmypy", None), Daemon("dmypy-split", args.workers)]
    order = random.Random(args.seed)
    for corpus in select_corpora(args.corpora):
        results: dict[str, list[tuple[float, float]]] = {d.label: [] for d in daemons}
        with tempfile.TemporaryDirectory(prefix="daemon-compare-") as scratch:
            for round_number in range(1, args.rounds + 1):
                for daemon in order.sample(daemons, len(daemons)):
                    folder = Path(scratch) / daemon.script
                    folder.mkdir(exist_ok=True)
                    cold, recheck, code = one_round(daemon, corpus, folder, args.settle, args.edit)
                    results[daemon.label].append((cold, recheck))
                    print(
                        f"  {corpus.name} round {round_number}/{args.rounds} {daemon.label:18} "
                        f"cold {cold:7.2f} s  recheck {recheck:6.2f} s  exit {code}  "
                        f"load {os.getloadavg()[0]:.1f}",
                        flush=True,
                    )
        print_summary(f"{corpus.name} ({args.edit} edit)", daemons, results)
    return 0


def print_summary(name: str, daemons: list[Daemon], results: dict[str, list[tuple[float, float]]]) -> None:
    """Medians, their ratio to `dmypy`, and the median of each round's own ratio.

    A round runs both daemons back to back, so its ratio compares them under
    about the same load; on a shared machine that is the figure to trust.
    """
    base = daemons[0].label
    base_cold = statistics.median(cold for cold, _ in results[base])
    base_recheck = statistics.median(recheck for _, recheck in results[base])
    print(f"{name}: medians (paired: median of each round's ratio to {base})")
    for daemon in daemons:
        cold = statistics.median(c for c, _ in results[daemon.label])
        recheck = statistics.median(r for _, r in results[daemon.label])
        pairs = list(zip(results[daemon.label], results[base]))
        paired_cold = statistics.median(ours[0] / theirs[0] for ours, theirs in pairs)
        paired_recheck = statistics.median(ours[1] / theirs[1] for ours, theirs in pairs)
        print(
            f"  {daemon.label:18} cold {cold:7.2f} s ({cold / base_cold:.2f}x, paired {paired_cold:.2f}x)  "
            f"recheck {recheck:6.2f} s ({recheck / base_recheck:.2f}x, paired {paired_recheck:.2f}x)"
        )


if __name__ == "__main__":
    sys.exit(main())
