"""Seeded random projects for differential and fault tests.

`generate(seed, modules=N)` builds a project of N modules spread over a few
packages, with what stresses a parallel check: a random import graph with
several import cycles (some closed by an import inside a function, some by a
package `__init__` that imports one of its submodules), errors in module top
levels and in function bodies, methods that assign `self.x` (inferred in the
interface phase, sometimes from a module in the same cycle), a dataclass of
every module constructed by others, `reveal_type`, and a missing import in a
few modules (the "See https://...#missing-imports" note is shown once).
With `binding_methods`, every module outside the import cycles also has
a method whose decorator makes its self argument a type variable, called by
its importers: the engine binds it otherwise once the module comes from the
cache (`mypy_split/sensitive.py`, `Sensitivity.BINDING`), which a worker
checking an importer in another SCC would do.

The same seed always gives the same files.  `body_edit` and `interface_edit`
change one module in place (returning the files to rewrite): the first only
inside function bodies, the second the types other modules see.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

MISSING_MODULE = "not_a_real_module_xyz"
_TYPES = ("int", "str")
_LITERALS = {"int": "{n}", "str": '"s{n}"'}


@dataclass
class ModuleSpec:
    """One generated module: its place, its type, what it imports, its errors."""

    index: int
    package: str
    kind: str  # "int" or "str": the type of its value, function, attribute, field
    top_imports: list[int] = field(default_factory=list)
    function_imports: list[int] = field(default_factory=list)
    missing_import: bool = False
    top_error: bool = False
    body_variant: int = 0

    @property
    def short(self) -> str:
        return f"mod{self.index}"

    @property
    def name(self) -> str:
        return f"{self.package}.{self.short}"

    @property
    def path(self) -> str:
        return f"{self.package}/{self.short}.py"


@dataclass
class Project:
    seed: int
    modules: list[ModuleSpec]
    packages: list[str]
    # A package whose __init__ imports one of its own submodules (None: all empty).
    init_import: tuple[str, int] | None = None
    # Modules with such a method (see the module doc).
    chain_modules: frozenset[int] = frozenset()

    @property
    def targets(self) -> list[str]:
        return list(self.packages)

    def files(self) -> dict[str, str]:
        files = {f"{package}/__init__.py": self.render_init(package) for package in self.packages}
        for spec in self.modules:
            files[spec.path] = self.render(spec)
        return files

    def write(self, folder: Path) -> Path:
        """Write the project's files under `folder` (made if needed); returns `folder`."""
        for name, text in self.files().items():
            target = folder / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        return folder

    def render_init(self, package: str) -> str:
        if self.init_import is not None and self.init_import[0] == package:
            target = self.modules[self.init_import[1]]
            return f"from {target.name} import func{target.index}\n\nPACKAGE_VALUE = func{target.index}(1)\n"
        return ""

    def render(self, spec: ModuleSpec) -> str:
        return _render_module(spec, self.modules, self.chain_modules)

    def import_graph(self) -> dict[str, set[str]]:
        """Module name to what it imports as mypy sees it (with each imported module's package)."""
        graph: dict[str, set[str]] = {package: set() for package in self.packages}
        if self.init_import is not None:
            graph[self.init_import[0]].add(self.modules[self.init_import[1]].name)
        for spec in self.modules:
            deps: set[str] = set()
            for index in (*spec.top_imports, *spec.function_imports):
                target = self.modules[index]
                deps.update((target.package, target.name))
            graph[spec.name] = deps - {spec.name}
        return graph

    def cycles(self) -> list[set[str]]:
        """The import cycles (SCCs of more than one module)."""
        return [scc for scc in strongly_connected(self.import_graph()) if len(scc) > 1]


def strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm, iteratively; SCCs come out dependencies first."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    result: list[set[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, list[str]]] = [(root, sorted(graph[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, pending = work[-1]
            if pending:
                child = pending.pop()
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, sorted(graph.get(child, ()))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                scc: set[str] = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    scc.add(member)
                    if member == node:
                        break
                result.append(scc)
    return result


def generate(
    seed: int,
    modules: int = 16,
    packages: int = 3,
    cycles: int = 4,
    missing: int = 3,
    binding_methods: bool = False,
) -> Project:
    """A project of `modules` modules; the same arguments always give the same project."""
    rng = random.Random(seed)
    package_names = [f"pkg{letter}" for letter in "abcdefghij"[:packages]]
    specs = [
        ModuleSpec(index=i, package=package_names[i % packages], kind=rng.choice(_TYPES))
        for i in range(modules)
    ]
    # The acyclic part: a module imports a few lower-numbered ones.
    for spec in specs[1:]:
        count = min(spec.index, rng.randint(1, 3))
        spec.top_imports = sorted(rng.sample(range(spec.index), count))
    # Cycles: a chain of 2-4 modules, each importing the previous one, closed
    # by the lowest importing the highest (at top level or inside a function).
    # Each lies in a segment of its own, so that cycles do not merge: imports
    # between segments all go down.
    cycles = max(0, min(cycles, modules // 2))
    size = modules // cycles if cycles else modules
    for number in range(cycles):
        start = number * size
        end = modules if number == cycles - 1 else start + size
        length = rng.randint(2, min(4, end - start))
        low = rng.randrange(start, end - length + 1)
        members = sorted(rng.sample(range(low, min(end, low + length + 1)), length))
        for lower, higher in zip(members, members[1:]):
            if lower not in specs[higher].top_imports:
                specs[higher].top_imports.append(lower)
        back = specs[members[0]]
        imports = back.function_imports if number % 2 == 0 else back.top_imports
        if members[-1] not in imports:
            imports.append(members[-1])
    for spec in specs:
        spec.top_imports.sort()
        spec.function_imports = sorted(set(spec.function_imports) - set(spec.top_imports))
        spec.top_error = rng.random() < 0.3
        spec.body_variant = rng.randrange(2)
    for index in rng.sample(range(modules), min(missing, modules)):
        specs[index].missing_import = True
    init_package = package_names[rng.randrange(packages)]
    in_package = [spec.index for spec in specs if spec.package == init_package]
    init_import = (init_package, in_package[0]) if in_package else None
    project = Project(seed=seed, modules=specs, packages=package_names, init_import=init_import)
    if binding_methods:
        in_cycles = set().union(*project.cycles())
        acyclic = [spec.index for spec in specs if spec.name not in in_cycles]
        project.chain_modules = frozenset(acyclic)
    return project


def body_edit(project: Project, rng: random.Random) -> dict[str, str]:
    """Change function bodies only (errors come and go, no interface changes)."""
    spec = rng.choice(project.modules)
    spec.body_variant += 1
    return {spec.path: project.render(spec)}


def interface_edit(project: Project, rng: random.Random) -> dict[str, str]:
    """Flip the type of a module that others import: their errors change."""
    imported = {
        target
        for spec in project.modules
        for target in (*spec.top_imports, *spec.function_imports)
    }
    spec = project.modules[rng.choice(sorted(imported))]
    spec.kind = "str" if spec.kind == "int" else "int"
    return {spec.path: project.render(spec)}


def _literal(kind: str, n: int) -> str:
    return _LITERALS[kind].format(n=n)


def _other(kind: str) -> str:
    return "str" if kind == "int" else "int"


def _chain_class(i: int) -> list[str]:
    """A class whose method returns its instance through a decorator's self type variable."""
    return [
        "",
        "",
        f'P{i} = ParamSpec("P{i}")',
        f'T{i} = TypeVar("T{i}")',
        "",
        "",
        f"def fluent{i}(fn: Callable[Concatenate[Any, P{i}], None]) -> Callable[Concatenate[T{i}, P{i}], T{i}]:",
        "    raise NotImplementedError",
        "",
        "",
        f"class Chain{i}:",
        f"    @fluent{i}",
        "    def add(self, x: int) -> None: ...",
    ]


def _render_module(spec: ModuleSpec, modules: list[ModuleSpec], chain_modules: frozenset[int]) -> str:
    i, kind = spec.index, spec.kind
    lines = [f'"""Generated module {spec.name}."""', "", "from dataclasses import dataclass"]
    if i in chain_modules:
        lines.append("from typing import Any, Callable, Concatenate, ParamSpec, TypeVar")
    if spec.missing_import:
        lines.append(f"import {MISSING_MODULE}")
    # Three import styles, chosen by position so that rendering is deterministic.
    refs: dict[int, str] = {}
    for position, target_index in enumerate(spec.top_imports):
        target = modules[target_index]
        style = (i + position) % 3
        if style == 0:
            lines.append(f"from {target.package} import {target.short}")
            refs[target_index] = target.short
        elif style == 1:
            lines.append(f"import {target.name}")
            refs[target_index] = target.name
        else:
            alias = f"m{target_index}"
            lines.append(f"import {target.name} as {alias}")
            refs[target_index] = alias
    lines += [
        "",
        f"VALUE{i}: {kind} = {_literal(kind, i)}",
        "",
        "",
        "@dataclass",
        f"class Rec{i}:",
        "    tag: str",
        f"    value: {kind}",
        "",
        "",
        f"def func{i}(n: int) -> {kind}:",
    ]
    # Body variants: odd ones hold an error.
    if spec.body_variant % 2:
        lines.append(f'    wrong{spec.body_variant}: int = "body {spec.body_variant}"')
    else:
        lines.append(f"    fine{spec.body_variant}: int = n + {spec.body_variant}")
    lines += [
        f"    return {_literal(kind, i)}",
        "",
        "",
        f"class Box{i}:",
        "    def __init__(self, n: int) -> None:",
        f"        self.value = func{i}(n)",
        f"        self.items: list[{kind}] = []",
    ]
    first_dep = spec.top_imports[0] if spec.top_imports else None
    if first_dep is not None:
        lines.append(f"        self.other = {refs[first_dep]}.Box{first_dep}(n).value")
    lines += [
        "",
        "    def total(self) -> int:",
        "        return self.value",
    ]
    if first_dep is not None:
        lines += [
            "",
            f"    def combine(self) -> {kind}:",
            "        return self.other",
        ]
    if i in chain_modules:
        lines += _chain_class(i)
    lines += ["", "", f"def use{i}() -> int:", "    total = 0"]
    for target_index in spec.top_imports:
        target, ref = modules[target_index], refs[target_index]
        lines += [
            f"    x{target_index}: int = {ref}.VALUE{target_index}",
            f"    y{target_index} = {ref}.func{target_index}(1)",
            f"    reveal_type(y{target_index})",
            f'    r{target_index} = {ref}.Rec{target_index}("t", {_literal(target.kind, target_index)})',
            f"    reveal_type(r{target_index}.value)",
            f"    total += {ref}.Box{target_index}(2).total()",
        ]
        if target_index in chain_modules:
            lines += [f"    c{target_index} = {ref}.Chain{target_index}().add(1)", f"    reveal_type(c{target_index})"]
    lines.append("    return total")
    if spec.function_imports:
        lines += ["", "", f"def late{i}() -> None:"]
        for target_index in spec.function_imports:
            target = modules[target_index]
            lines += [
                f"    from {target.package} import {target.short} as late_{target_index}",
                f"    reveal_type(late_{target_index}.VALUE{target_index})",
                f"    z{target_index}: str = late_{target_index}.func{target_index}(0)",
                f"    late_{target_index}.Rec{target_index}(tag=1, value={_literal(target.kind, 0)})",
            ]
    lines += ["", "", f"RECORD{i} = Rec{i}(\"top\", {_literal(kind, i)})"]
    if first_dep is not None:
        lines.append(f"reveal_type({refs[first_dep]}.Rec{first_dep})")
    if spec.top_error:
        lines.append(f"broken{i}: {_other(kind)} = {_literal(kind, i)}")
    return "\n".join(lines) + "\n"
