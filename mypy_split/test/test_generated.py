"""Generated projects (see projects.py) through `mypy` and `mypy-split`, compared.

For each seed: a cold run, then a body edit, then an interface edit.  mypy
runs each step on its own cache; mypy-split runs each step at -n 0, 1, 2 and
3, each worker count on a cache of its own that has seen the earlier steps.
After the last step the caches are crossed (differential.cross_check_caches):
`mypy` finds mypy-split's cache fresh and answers from it as from its own.
"""

from __future__ import annotations

import difflib
import random
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from mypy_split.test.casefile import Case, Step
from mypy_split.test.conftest import WarmCache
from mypy_split.test.differential import (
    CHECKED_COUNT,
    MYPY,
    MYPY_SPLIT,
    apply_step,
    RunResult,
    cross_check_caches,
    run_tool,
)
from mypy_split.test.projects import Project, body_edit, generate, interface_edit

WORKER_COUNTS = (0, 1, 2, 3)
STEP_NAMES = ("cold", "body edit", "interface edit")


@dataclass(frozen=True)
class Shape:
    seed: int
    modules: int
    packages: int
    cycles: int
    missing: int
    # Methods that bind otherwise from the cache (projects.py): the default
    # mode must keep their modules in memory wherever they are called.
    binding_methods: bool = False

    def __str__(self) -> str:
        extra = "-binding" if self.binding_methods else ""
        return f"seed{self.seed}-{self.modules}mods-{self.cycles}cycles{extra}"


SHAPES = [
    Shape(seed=1, modules=10, packages=3, cycles=3, missing=2),
    Shape(seed=2, modules=12, packages=2, cycles=4, missing=3),
    Shape(seed=3, modules=9, packages=3, cycles=2, missing=2),
    Shape(seed=4, modules=16, packages=3, cycles=2, missing=2, binding_methods=True),
]


def build_case(shape: Shape) -> tuple[Project, Case]:
    """Three steps: the whole project, a body edit, an interface edit."""
    project = generate(
        shape.seed,
        modules=shape.modules,
        packages=shape.packages,
        cycles=shape.cycles,
        missing=shape.missing,
        binding_methods=shape.binding_methods,
    )
    rng = random.Random(shape.seed * 7919)
    targets = project.targets
    steps = [
        Step(targets=targets, writes=project.files()),
        Step(targets=targets, writes=body_edit(project, rng)),
        Step(targets=targets, writes=interface_edit(project, rng)),
    ]
    return project, Case(name=str(shape), source="projects.py", line=shape.seed, steps=steps)


def diff(expected: RunResult, actual: RunResult) -> str:
    """What differs, as a unified diff of each stream (mypy first)."""
    parts = []
    if expected.returncode != actual.returncode:
        parts.append(f"exit code: mypy {expected.returncode}, mypy-split {actual.returncode}")
    for stream in ("stdout", "stderr"):
        lines = difflib.unified_diff(
            getattr(expected, stream).splitlines(keepends=True),
            getattr(actual, stream).splitlines(keepends=True),
            fromfile=f"mypy {stream}",
            tofile=f"mypy-split {stream}",
        )
        text = "".join(lines)
        if text:
            parts.append(text)
    return "\n".join(parts)


def test_generator_is_deterministic() -> None:
    first, second = generate(5, modules=20), generate(5, modules=20)
    assert first.files() == second.files()
    assert generate(6, modules=20).files() != first.files()
    texts = "".join(first.files().values())
    assert "import not_a_real_module_xyz" in texts
    assert "@dataclass" in texts and "reveal_type(" in texts and "self.value = " in texts
    cycles = first.cycles()
    assert len(cycles) >= 2, cycles
    names = {spec.index: spec.name for spec in first.modules}
    closed_in_function = [
        scc
        for scc in cycles
        for spec in first.modules
        if spec.name in scc and any(names[target] in scc for target in spec.function_imports)
    ]
    assert closed_in_function, "no cycle goes through an import inside a function"


def test_binding_methods_sit_outside_cycles() -> None:
    """Their importers are other SCCs, which a worker may check with the module loaded from the cache."""
    project, _ = build_case(next(shape for shape in SHAPES if shape.binding_methods))
    in_cycles = set().union(*project.cycles())
    chains = {project.modules[index].name for index in project.chain_modules}
    assert chains and not chains & in_cycles, (chains, in_cycles)
    files = project.files()
    callers = [path for path, text in files.items() if ".add(1)" in text]
    assert len(callers) >= 3, callers


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_shapes_have_cycles(shape: Shape) -> None:
    project, _ = build_case(shape)
    assert len(project.cycles()) >= 2, project.cycles()


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_generated_project(shape: Shape, tmp_path: Path, warm_cache: WarmCache) -> None:
    _, case = build_case(shape)
    project = tmp_path / "project"
    project.mkdir()
    names = ["mypy", *(f"split-n{count}" for count in WORKER_COUNTS)]
    caches = {name: tmp_path / f"cache-{name}" for name in names}
    warm = warm_cache([])
    for cache in caches.values():
        shutil.copytree(warm, cache, symlinks=True)
    base_mtime = int(time.time()) - 1000
    # Every step runs at every count even after a difference: later steps
    # say whether the difference survives an edit, or only shows after one.
    failures: list[str] = []
    for index, step in enumerate(case.steps):
        apply_step(project, step, index, base_mtime)
        reference = run_tool(MYPY, step.args, project, caches["mypy"], step.env)
        for count in WORKER_COUNTS:
            args = [*step.args, "-n", str(count)]
            ours = run_tool(MYPY_SPLIT, args, project, caches[f"split-n{count}"], step.env)
            if ours != reference:
                failures.append(f"step {index + 1} ({STEP_NAMES[index]}), -n {count}:\n{diff(reference, ours)}")
    assert CHECKED_COUNT in WORKER_COUNTS
    last = len(case.steps) - 1
    try:
        cross_check_caches(case, last, case.steps[last], project, caches, tmp_path)
    except AssertionError as difference:
        failures.append(str(difference))
    if failures:
        raise AssertionError(f"{len(failures)} difference(s):\n\n" + "\n\n".join(failures))


# More seeds of the binding shape, cold only: where a method that binds
# otherwise from the cache is called across SCCs depends on the seed, and
# which worker loads what from the cache on the timing.  Seeds 11 and 12
# showed the cache form when a shared cycle's kept-back body went unchecked.
BINDING_SEEDS = range(5, 13)


@pytest.mark.parametrize("seed", BINDING_SEEDS)
def test_binding_methods_cold(seed: int, tmp_path: Path, warm_cache: WarmCache) -> None:
    project = generate(seed, modules=16, packages=3, cycles=2, missing=2, binding_methods=True)
    root = tmp_path / "project"
    step = Step(targets=project.targets, writes=project.files())
    apply_step(root, step, 0, int(time.time()) - 1000)
    args = step.args
    reference = run_tool(MYPY, args, root, shutil.copytree(warm_cache([]), tmp_path / "mypy"), {})
    assert "Revealed type is" in reference.stdout and "Chain" in reference.stdout, reference.describe()
    for count in ("2", "3"):
        cache = shutil.copytree(warm_cache([]), tmp_path / f"split-{count}")
        ours = run_tool(MYPY_SPLIT, [*args, "-n", count], root, cache, {})
        assert ours == reference, f"-n {count}:\n{diff(reference, ours)}"
