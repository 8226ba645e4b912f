"""Concurrent runs on one cache folder: mixed flags, edits and killed runs.

pre-commit runs hooks in parallel, so several `mypy-split` (and `mypy`)
processes share one cache folder, with different flags, both cache stores,
while files change and while some runs are killed.  The promise: every
`mypy-split` run that finishes prints mypy's answer for the files it saw,
and the cache left behind gives a later `mypy` the answer it gives on a
clean cache.

The project is small (an import cycle, errors in top levels and bodies,
errors that only the "strict" configuration reports) and avoids every
message that depends on the cache state (only-once notes, generated
methods), so mypy's answer depends only on the file contents and the
configuration.  References come from `mypy` run alone, on a cache of its
own per configuration.

Two scenarios, seeded:

- waves: each wave edits some files, then starts 4 or 8 runs at once (mixed
  configurations, cache stores and worker counts, one or two `mypy` runs
  among them, see `start_wave`) and kills some `mypy-split` runs at random moments (SIGKILL to the
  coordinator alone, SIGKILL to the whole process group, SIGTERM).  Files are
  not edited during a wave, so each finished run must equal the reference.
- edits during runs: one file is replaced (atomically) while the runs go; a
  finished run must equal the reference for the old or for the new content.

After either scenario, once no process of the runs is left, `mypy -n 0` in
each configuration on a copy of the shared cache must print the reference
for the final content.  `pytest -m stress` runs more rounds.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mypy_split.test.conftest import WarmCache
from mypy_split.test.differential import MYPY, MYPY_SPLIT, RunResult, run_tool
from mypy_split.test.processes import leftovers, workers_of
from mypy_split.test.fault_runs import MARKERS, STOP_BETWEEN_PHASES, tool_env

CONFIGS = {
    "default.ini": "[mypy]\n",
    # Per-module options only: typeshed keeps the default options, so the
    # pre-warmed typeshed cache serves both configurations.
    "strict.ini": (
        "[mypy]\n"
        "[mypy-app.*]\n"
        "disallow_untyped_defs = True\n"
        "disallow_incomplete_defs = True\n"
        "warn_return_any = True\n"
    ),
}
# mypy 2.4.1 stores its cache in SQLite unless told otherwise: the file store
# must be asked for by name.
STORES = {"files": ["--no-sqlite-cache"], "sqlite": ["--sqlite-cache"]}

# (tool, config, store, workers)
Kind = tuple[str, str, str, int]
SPLIT_KINDS: list[Kind] = [
    ("mypy-split", config, store, workers)
    for config in CONFIGS
    for store in STORES
    for workers in (0, 2)
]
TIMEOUT = 240.0

# -- the project ------------------------------------------------------------------

Variant = dict[str, int]
VARIANTS = {"base": 2, "models": 2, "service": 3, "util": 2}


def base_py(variant: int) -> str:
    returned, value = ("int", "1") if variant == 0 else ("str", '"one"')
    return (
        "from __future__ import annotations\n"
        "from app import models\n\n\n"
        f"def make_id() -> {returned}:\n"
        f"    return {value}\n\n\n"
        "class Base:\n"
        "    def __init__(self) -> None:\n"
        "        self.ident = make_id()\n\n"
        "    def owner(self) -> models.Model | None:\n"
        "        return None\n\n\n"
        "def untyped(x):\n"
        "    return x\n"
    )


def models_py(variant: int) -> str:
    extra = "" if variant == 0 else "\n    def size(self) -> int:\n        return len(self.label()) + None\n"
    return (
        "from app.base import Base, make_id\n\n\n"
        "class Model(Base):\n"
        "    def label(self) -> str:\n"
        "        return self.ident\n"
        f"{extra}\n\n"
        "count: int = make_id()\n"
    )


def service_py(variant: int) -> str:
    body = ("    x: int = m.label()\n", "    x = len(m.label())\n", "    x = m.ident + 1\n")[variant]
    return (
        "from app import base\n"
        "from app.models import Model\n\n\n"
        "def run(m: Model) -> int:\n"
        f"{body}"
        "    return x\n\n\n"
        "def helper(a, b: int):\n"
        "    return base.untyped(a) + b\n"
    )


def util_py(variant: int) -> str:
    if variant == 0:
        return "def twice(x):\n    return x * 2\n\n\ndef name() -> str:\n    return 3\n"
    return "def twice(x: int) -> int:\n    return x * 2\n\n\ndef name() -> str:\n    return 'n'\n"


def cli_py() -> str:
    return (
        "from app import service, util\n"
        "from app.models import Model\n\n\n"
        "def main() -> None:\n"
        "    print(service.run(Model()), util.twice(2))\n"
        "    service.helper(1, 'x')\n"
    )


def project_files(variant: Variant) -> dict[str, str]:
    return {
        "app/__init__.py": "",
        "app/base.py": base_py(variant["base"]),
        "app/models.py": models_py(variant["models"]),
        "app/service.py": service_py(variant["service"]),
        "app/util.py": util_py(variant["util"]),
        "app/cli.py": cli_py(),
    }


def args_for(kind: Kind) -> list[str]:
    _, config, store, workers = kind
    return ["--config-file", config, *STORES[store], "-n", str(workers), "app"]


# -- the world: one project, one shared cache, references -------------------------


@dataclass
class World:
    root: Path
    project: Path
    cache: Path
    warm: Path
    variant: Variant
    stamp: int
    references: dict[tuple[str, str], RunResult]

    def write(self, variant: Variant) -> list[str]:
        """Write the files that differ, each atomically, with a new whole-second mtime.

        A fresh mtime per edit keeps this about our promise: mypy itself
        cannot tell two contents apart that have the same size and mtime.
        """
        old = project_files(self.variant) if self.variant else {}
        changed = [name for name, text in project_files(variant).items() if old.get(name) != text]
        self.stamp += 10
        for name in changed:
            target = self.project / name
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary = target.with_suffix(".tmp")
            temporary.write_text(project_files(variant)[name], encoding="utf-8")
            os.utime(temporary, (self.stamp, self.stamp))
            os.replace(temporary, target)
        self.variant = dict(variant)
        return changed

    def reference(self, variant: Variant, config: str) -> RunResult:
        """mypy's answer for these contents: run alone, on a cache of its own per configuration."""
        key = (repr(sorted(variant.items())), config)
        if key not in self.references:
            folder = self.root / f"reference-{config}"
            cache = self.root / f"reference-cache-{config}"
            if not cache.exists():
                shutil.copytree(self.warm, cache, symlinks=True)
            self.stamp += 10
            write_tree(folder, project_files(variant), self.stamp)
            shutil.copy(self.project / config, folder / config)
            result = run_tool(MYPY, ["--config-file", config, "app"], folder, cache, {})
            assert "Traceback" not in result.stdout + result.stderr, result.describe()
            self.references[key] = result
        return self.references[key]


Answer = tuple[int, str, str, tuple[tuple[str, ...], ...]]


def answer(result: RunResult) -> Answer:
    """What must match: exit code, stderr, summary, and each module's lines in their order.

    The order of the modules is not compared: mypy prints modules found fresh
    first, so it depends on the cache state a run met, which concurrent runs
    change under each other.
    """
    lines = result.stdout.splitlines()
    summary = lines.pop() if lines and not lines[-1].startswith("app/") else ""
    blocks: dict[str, list[str]] = {}
    for line in lines:
        blocks.setdefault(line.split(":", 1)[0], []).append(line)
    return result.returncode, result.stderr, summary, tuple(sorted(tuple(b) for b in blocks.values()))


def write_tree(folder: Path, files: dict[str, str], stamp: int) -> None:
    for name, text in files.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")
            os.utime(target, (stamp, stamp))


def merged_warm_cache(warm_cache: WarmCache, target: Path) -> Path:
    """One folder holding typeshed in both stores: the file store and the SQLite one."""
    shutil.copytree(warm_cache(STORES["files"]), target, symlinks=True)
    shutil.copytree(warm_cache(STORES["sqlite"]), target, symlinks=True, dirs_exist_ok=True)
    return target


@pytest.fixture
def world(tmp_path: Path, warm_cache: WarmCache) -> Iterator[World]:
    warm = merged_warm_cache(warm_cache, tmp_path / "warm")
    project = tmp_path / "project"
    project.mkdir()
    for name, text in CONFIGS.items():
        (project / name).write_text(text, encoding="utf-8")
    cache = tmp_path / "cache"
    shutil.copytree(warm, cache, symlinks=True)
    space = World(tmp_path, project, cache, warm, {}, int(time.time()) - 100_000, {})
    space.write({name: 0 for name in VARIANTS})
    yield space
    kill_leftovers(project)


# -- runs -------------------------------------------------------------------------


class Run:
    """One run on the shared cache, started in a session of its own."""

    def __init__(self, world: World, kind: Kind, number: int, env: dict[str, str] | None = None) -> None:
        self.kind = kind
        self.out = world.root / f"run-{number}.out"
        self.err = world.root / f"run-{number}.err"
        command = MYPY_SPLIT if kind[0] == "mypy-split" else MYPY
        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            self.process = subprocess.Popen(
                [*command, *args_for(kind)],
                cwd=world.project,
                env=tool_env(world.cache, env),
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        self.killed: str | None = None

    def describe(self) -> str:
        tool, config, store, workers = self.kind
        return f"{tool} {config} {store} -n {workers}"

    def kill(self, how: str) -> None:
        if self.process.poll() is not None:
            return  # Finished before the kill: checked like any other run.
        self.killed = how
        try:
            if how == "SIGKILL group":
                os.killpg(self.process.pid, signal.SIGKILL)
            else:
                os.kill(self.process.pid, signal.SIGKILL if how == "SIGKILL" else signal.SIGTERM)
        except ProcessLookupError:
            pass

    def finish(self) -> RunResult:
        self.process.wait(timeout=TIMEOUT)
        return RunResult(
            self.out.read_text(encoding="utf-8", errors="replace"),
            self.err.read_text(encoding="utf-8", errors="replace"),
            self.process.returncode,
        )


KILLS = ("SIGKILL", "SIGKILL group", "SIGTERM")


def start_wave(
    world: World, rng: random.Random, size: int, first: int, *, share_sqlite: bool, plain_config: str
) -> list[Run]:
    """`size` runs at once: mostly mypy-split, one or two mypy among them.

    The `mypy` runs share the folder, and with `share_sqlite` their SQLite
    store too, with mypy-split runs of either configuration: mypy-split reads
    each pair of entries from one commit and keeps its own errors only beside
    its own meta, and what it recorded tells it when a `mypy` commit came
    between the two halves of a pair (meta_pairing.py).  Pairs that `mypy`
    runs wrote alone carry no record, and two `mypy` runs with different
    flags can mix theirs as they would without us: so every `mypy` run of a
    scenario uses one configuration, `plain_config`.  The file store has none
    of that, and while files change a `mypy` run may rewrite a module's tree
    after a mypy-split run chose to load it (the engine does not check the
    tree against the meta it validated): there the `mypy` runs keep to a
    store no mypy-split run of the wave uses (README, "Concurrent runs").
    """
    plain = 1 if size <= 4 else 2
    store = rng.choice(sorted(STORES))
    shared = share_sqlite and store == "sqlite"
    split_kinds = [kind for kind in SPLIT_KINDS if shared or kind[2] != store]
    kinds = [rng.choice(split_kinds) for _ in range(size - plain)] + [("mypy", plain_config, store, 0)] * plain
    rng.shuffle(kinds)
    return [Run(world, kind, first + index) for index, kind in enumerate(kinds)]


def schedule_kills(runs: list[Run], rng: random.Random, count: int) -> list[tuple[float, Run, str]]:
    victims = rng.sample([run for run in runs if run.kind[0] == "mypy-split"], count)
    return sorted(((rng.uniform(0.2, 2.5), run, rng.choice(KILLS)) for run in victims), key=lambda k: k[0])


def run_kills(kills: list[tuple[float, Run, str]], started: float) -> None:
    for delay, run, how in kills:
        time.sleep(max(0.0, started + delay - time.monotonic()))
        run.kill(how)


def check_finished(world: World, runs: list[Run], acceptable: list[Variant], label: str) -> list[str]:
    """Problems of the finished mypy-split runs; killed runs only must not hang."""
    problems = []
    for run in runs:
        result = run.finish()
        if run.killed is not None or run.kind[0] != "mypy-split":
            continue
        expected = [world.reference(variant, run.kind[1]) for variant in acceptable]
        if answer(result) not in [answer(reference) for reference in expected]:
            problems.append(
                f"{label}: {run.describe()} on {run.out.name} answered differently from mypy\n"
                + "".join(f"=== mypy ({variant})\n{reference.describe()}" for variant, reference in zip(acceptable, expected))
                + f"=== mypy-split\n{result.describe()}"
            )
    return problems


def kill_leftovers(project: Path) -> None:
    for info in leftovers(project):
        try:
            os.kill(info.pid, signal.SIGKILL)
        except OSError:
            pass


def wait_for_leftovers(project: Path, timeout: float = 60.0) -> list[str]:
    """Workers of a coordinator killed alone finish their task and go; wait for them."""
    deadline = time.monotonic() + timeout
    while (left := leftovers(project)) and time.monotonic() < deadline:
        time.sleep(0.05)
    if not left:
        return []
    kill_leftovers(project)
    return [f"processes still running {timeout} s after the last run ended: {[p.cmdline for p in left]}"]


def check_cache_left(world: World) -> list[str]:
    """`mypy -n 0` on a copy of the shared cache answers as on a clean cache, in every configuration."""
    problems = []
    for config in CONFIGS:
        for store, flags in STORES.items():
            copy = world.root / f"final-{config}-{store}"
            shutil.rmtree(copy, ignore_errors=True)
            shutil.copytree(world.cache, copy, symlinks=True)
            result = run_tool(MYPY, ["--config-file", config, *flags, "-n", "0", "app"], world.project, copy, {})
            expected = world.reference(world.variant, config)
            if answer(result) != answer(expected):
                problems.append(
                    f"mypy {config} {store} on the cache left answers differently from a clean cache\n"
                    f"=== clean\n{expected.describe()}=== on the cache left\n{result.describe()}"
                )
            shutil.rmtree(copy, ignore_errors=True)
    return problems


def random_variant(rng: random.Random, current: Variant) -> Variant:
    variant = dict(current)
    for name in rng.sample(sorted(VARIANTS), rng.randint(1, 2)):
        variant[name] = rng.randrange(VARIANTS[name])
    return variant


# -- the scenarios ------------------------------------------------------------------


# Before a wave starts, the workers of a coordinator killed in the wave
# before, which finish their task holding only our lock, must be gone.
WAVE_GAP = 60.0


def waves(world: World, seed: int, sizes: list[int]) -> None:
    rng = random.Random(seed)
    plain_config = rng.choice(sorted(CONFIGS))
    problems: list[str] = []
    number = 0
    for index, size in enumerate(sizes):
        if index:
            world.write(random_variant(rng, world.variant))
        runs = start_wave(world, rng, size, number, share_sqlite=True, plain_config=plain_config)
        number += size
        kills = schedule_kills(runs, rng, 1 if size <= 4 else 2)
        run_kills(kills, time.monotonic())
        problems += check_finished(world, runs, [world.variant], f"wave {index + 1}")
        problems += wait_for_leftovers(world.project, WAVE_GAP)
    problems += check_cache_left(world)
    assert not problems, "\n\n".join(problems)


def edits_during_runs(world: World, seed: int, rounds: int) -> None:
    rng = random.Random(seed)
    plain_config = rng.choice(sorted(CONFIGS))
    problems: list[str] = []
    number = 0
    for index in range(rounds):
        before = dict(world.variant)
        runs = start_wave(world, rng, 4, number, share_sqlite=False, plain_config=plain_config)
        number += 4
        time.sleep(rng.uniform(0.1, 2.0))
        # One file per edit: a run sees either version of it, and with one
        # changed file that makes either answer right.
        after = dict(before)
        name = rng.choice(sorted(VARIANTS))
        after[name] = (before[name] + 1) % VARIANTS[name]
        world.write(after)
        problems += check_finished(world, runs, [before, after], f"round {index + 1}")
        problems += wait_for_leftovers(world.project, WAVE_GAP)
    problems += check_cache_left(world)
    assert not problems, "\n\n".join(problems)


def test_waves_of_concurrent_runs(world: World) -> None:
    waves(world, seed=4, sizes=[4, 8, 4, 8])


def test_edits_during_concurrent_runs(world: World) -> None:
    edits_during_runs(world, seed=6, rounds=3)


@pytest.mark.stress
@pytest.mark.parametrize("seed", range(10, 16))
def test_waves_long(world: World, seed: int) -> None:
    waves(world, seed=seed, sizes=[4, 8, 8, 4, 8, 8])


@pytest.mark.stress
@pytest.mark.parametrize("seed", range(20, 24))
def test_edits_during_runs_long(world: World, seed: int) -> None:
    edits_during_runs(world, seed=seed, rounds=6)


# -- targeted cases ---------------------------------------------------------------------


def stopped_worker(run: Run, timeout: float = 60.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stopped = [info.pid for info in workers_of(run.process.pid) if info.state == "T"]
        if stopped:
            return stopped[0]
        assert run.process.poll() is None, "the run ended and no worker stopped itself"
        time.sleep(0.02)
    raise AssertionError(f"no worker stopped itself within {timeout} s")


def test_killed_coordinator_keeps_the_cache_locked_until_its_workers_end(world: World) -> None:
    """A strict run's worker stops between the phases of the cycle; its coordinator dies of SIGKILL.

    A default run started meanwhile must wait (the orphaned worker still
    holds the inherited lock and is writing the cycle's cache), then answer
    as mypy does, and the cache left must be sound.
    """
    markers = world.root / "markers"
    markers.mkdir()
    env = {STOP_BETWEEN_PHASES: "app.base", MARKERS: str(markers)}
    strict = Run(world, ("mypy-split", "strict.ini", "files", 2), 0, env)
    worker = stopped_worker(strict)
    os.kill(strict.process.pid, signal.SIGKILL)
    strict.finish()
    default = Run(world, ("mypy-split", "default.ini", "files", 0), 1)
    time.sleep(1.5)
    assert default.process.poll() is None, "a second run did not wait for the orphaned worker"
    os.kill(worker, signal.SIGCONT)
    problems = check_finished(world, [default], [world.variant], "after the orphaned worker")
    problems += wait_for_leftovers(world.project)
    problems += check_cache_left(world)
    assert not problems, "\n\n".join(problems)


def test_sqlite_writer_holding_the_database(world: World) -> None:
    """Another process holds every shard's write lock for longer than SQLite's default 5 s.

    mypy-split waits for it (at -n 0 and -n 2) instead of failing with
    "database is locked".
    """
    import sqlite3

    holders = []
    for path in sorted(world.cache.glob("*/cache*.db")):
        db = sqlite3.connect(path, isolation_level=None)
        db.execute("BEGIN IMMEDIATE")
        holders.append(db)
    assert holders, "the warm cache has no SQLite database"
    try:
        runs = [Run(world, ("mypy-split", "default.ini", "sqlite", workers), workers) for workers in (0, 2)]
        time.sleep(7.0)
    finally:
        for db in holders:
            db.rollback()
            db.close()
    problems = check_finished(world, runs, [world.variant], "with the database held")
    problems += wait_for_leftovers(world.project)
    assert not problems, "\n\n".join(problems)
