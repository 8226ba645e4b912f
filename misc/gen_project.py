"""Generate seeded synthetic projects that stress one shape of import graph each.

    python misc/gen_project.py KIND DEST [--seed N] [--scale F]

Kinds (module counts at scale 1):
    tiny   3,000 small modules in 60 packages: a realistic DAG where each
           module imports a few earlier ones, often a small core of widely
           imported modules, so there are many short SCCs and a wide front
    cycle  one 400-module import cycle (a ring plus random chords), 40 base
           modules below it and 60 client modules above it
    chain  a 200-deep chain: each module imports only the one before it

Every project is one package `synth_KIND` under DEST, with a `mypy.ini` and a
`main.py` that imports the top modules (nothing imports it: a leaf by
construction).  The code is annotated classes and functions that use their
dependencies; a few per cent of the modules and `main.py` hold a type error,
so the answer is not empty.  The same seed and scale give byte-identical
files.  (Deep chains and the ring type-check fine but exceed Python's
recursion limit when imported at run time; that is not their purpose.)
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

KINDS = ("tiny", "cycle", "chain")
MODULES_PER_PACKAGE = 50
# Shares of modules with a type error in a function body / at module level.
BODY_ERROR_RATE = 0.04
TOP_ERROR_RATE = 0.01
MYPY_INI = "[mypy]\nno_site_packages = True\n"


@dataclass
class Module:
    """One generated module: its dotted name, its number and what it imports."""

    name: str
    index: int
    deps: list[Module] = field(default_factory=list)

    @property
    def short(self) -> str:
        return self.name.rpartition(".")[2]


# ---------------------------------------------------------------- the graphs


def package_of(root: str, index: int) -> str:
    return f"{root}.p{index // MODULES_PER_PACKAGE:02d}"


def numbered(root: str, count: int, first: int = 0, package: str | None = None) -> list[Module]:
    """`count` modules numbered from `first`, spread over packages unless one is named."""
    modules = []
    for index in range(first, first + count):
        home = package or package_of(root, index)
        modules.append(Module(f"{home}.m{index:04d}", index))
    return modules


def scaled(count: int, scale: float, least: int = 2) -> int:
    return max(least, round(count * scale))


def tiny_graph(rng: random.Random, scale: float) -> list[Module]:
    """Each module imports 0-4 earlier ones: from the core, its own package, or anywhere."""
    modules = numbered("synth_tiny", scaled(3000, scale))
    core = max(1, len(modules) // 50)
    for position, module in enumerate(modules[1:], start=1):
        wanted = rng.choices((0, 1, 2, 3, 4), weights=(10, 30, 30, 20, 10))[0]
        package_start = position - position % MODULES_PER_PACKAGE
        for _ in range(wanted):
            roll = rng.random()
            if roll < 0.35:
                choice = rng.randrange(min(core, position))
            elif roll < 0.75 and package_start < position:
                choice = rng.randrange(package_start, position)
            else:
                choice = rng.randrange(position)
            if modules[choice] not in module.deps:
                module.deps.append(modules[choice])
    return modules


def cycle_graph(rng: random.Random, scale: float) -> list[Module]:
    """Base modules (a DAG), then a ring with chords (one SCC), then clients of the ring."""
    base = numbered("synth_cycle", scaled(40, scale), package="synth_cycle.base")
    ring = numbered("synth_cycle", scaled(400, scale), len(base), package="synth_cycle.ring")
    clients = numbered("synth_cycle", scaled(60, scale), len(base) + len(ring), package="synth_cycle.clients")
    for position, module in enumerate(base[1:], start=1):
        module.deps = rng.sample(base[:position], min(position, rng.randint(1, 2)))
    for position, module in enumerate(ring):
        # The ring edge makes the whole ring one SCC; chords make it realistic.
        module.deps.append(ring[(position + 1) % len(ring)])
        if rng.random() < 0.5:
            chord = rng.choice(ring)
            if chord is not module and chord not in module.deps:
                module.deps.append(chord)
        module.deps.append(rng.choice(base))
    for module in clients:
        module.deps = rng.sample(ring, min(len(ring), rng.randint(1, 3)))
    return [*base, *ring, *clients]


def chain_graph(rng: random.Random, scale: float) -> list[Module]:
    modules = numbered("synth_chain", scaled(200, scale))
    for position, module in enumerate(modules[1:], start=1):
        module.deps = [modules[position - 1]]
    return modules


GRAPHS = {"tiny": tiny_graph, "cycle": cycle_graph, "chain": chain_graph}


# ---------------------------------------------------------------- the code


def import_lines(module: Module) -> list[str]:
    # `from package import module` also works at run time inside a cycle.
    return [
        f"from {dep.name.rpartition('.')[0]} import {dep.short} as d{position}"
        for position, dep in enumerate(module.deps)
    ]


def item_class(module: Module, dataclass_style: bool) -> list[str]:
    """`ItemN`: parts made by the first dependency, a size, a label and a total."""
    n = module.index
    part = f"d0.Item{module.deps[0].index:04d}" if module.deps else f"Item{n:04d}"
    if dataclass_style:
        head = [
            "@dataclass",
            f"class Item{n:04d}:",
            f'    """A record of module {module.short}."""',
            "",
            "    size: int",
            "    label: str",
            f"    parts: list[{part}] = field(default_factory=list)",
        ]
    else:
        head = [
            f"class Item{n:04d}:",
            f'    """An item of module {module.short}."""',
            "",
            "    def __init__(self, size: int, label: str) -> None:",
            "        self.size = size",
            "        self.label = label",
            f"        self.parts: list[{part}] = []",
        ]
    return [
        *head,
        "",
        "    def total(self) -> int:",
        "        result = self.size",
        "        for part in self.parts:",
        "            result += part.total()",
        "        return result",
        "",
        '    def describe(self, prefix: str = "") -> str:',
        '        return f"{prefix}{self.label}:{self.total()}"',
    ]


def functions(module: Module, rng: random.Random) -> list[str]:
    """`make_N`, `combine_N` and `lookup_N`, each using the dependencies."""
    n = f"{module.index:04d}"
    make = [
        f"def make_{n}(size: int) -> Item{n}:",
        f'    item = Item{n}(size, "{module.short}")',
    ]
    if module.deps:
        make.append(f"    item.parts.append(d0.make_{module.deps[0].index:04d}(size + 1))")
    make.append("    return item")
    extra = " + ".join(f"d{position}.CONSTANT_{dep.index:04d}" for position, dep in enumerate(module.deps))
    combine = [
        f"def combine_{n}(items: Sequence[Item{n}]) -> dict[str, int]:",
        f"    offset = {extra or '0'}",
        "    return {item.label: item.total() + offset for item in items}",
    ]
    threshold = rng.randint(1, 99)
    lookup = [
        f"def lookup_{n}(table: Mapping[str, Item{n}], key: str) -> Item{n} | None:",
        "    found = table.get(key)",
        f"    if found is not None and found.total() > {threshold}:",
        "        return found",
        "    return None",
    ]
    return [*make, "", "", *combine, "", "", *lookup]


def error_lines(module: Module, rng: random.Random) -> tuple[list[str], list[str]]:
    """A type error or none: (module-level lines, function lines)."""
    n = f"{module.index:04d}"
    top: list[str] = []
    body: list[str] = []
    if rng.random() < TOP_ERROR_RATE:
        top = [f'LIMIT_{n}: int = "many"']
    if rng.random() < BODY_ERROR_RATE:
        if module.deps and rng.random() < 0.5:
            call = f"d0.make_{module.deps[0].index:04d}(str(size))"
            body = [f"def broken_{n}(size: int) -> int:", f"    return {call}.total()"]
        else:
            body = [f"def broken_{n}(value: int) -> str:", f"    return value + CONSTANT_{n}"]
    return top, body


def module_source(module: Module, seed: int, rng: random.Random) -> str:
    dataclass_style = rng.random() < 0.3
    top_error, body_error = error_lines(module, rng)
    lines = [
        f'"""Module {module.name}, generated by misc/gen_project.py (seed {seed})."""',
        "",
        "from __future__ import annotations",
        "",
        "from collections.abc import Mapping, Sequence",
    ]
    if dataclass_style:
        lines.append("from dataclasses import dataclass, field")
    if module.deps:
        lines += ["", *import_lines(module)]
    lines += ["", f"CONSTANT_{module.index:04d}: int = {rng.randint(0, 1000)}", *top_error, "", ""]
    lines += [*item_class(module, dataclass_style), "", "", *functions(module, rng)]
    if body_error:
        lines += ["", "", *body_error]
    return "\n".join(lines) + "\n"


def main_source(root: str, tops: Sequence[Module]) -> str:
    """The entry point: imports the modules nothing else imports and totals their items."""
    lines = [f'"""Entry point of {root}, generated by misc/gen_project.py."""', "", "from __future__ import annotations", ""]
    lines += [f"from {top.name.rpartition('.')[0]} import {top.short} as t{i}" for i, top in enumerate(tops)]
    lines += ["", "", "def run(size: int) -> int:", "    total = 0"]
    lines += [f"    total += t{i}.make_{top.index:04d}(size).total()" for i, top in enumerate(tops)]
    lines += ["    return total", "", ""]
    # One error every project has, whatever the seed.
    lines += ["def label() -> str:", "    return run(1)", "", ""]
    lines += ['if __name__ == "__main__":', "    print(run(1))"]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- writing


def generate(kind: str, dest: Path, seed: int = 0, scale: float = 1.0) -> Path:
    """Write project KIND under DEST (replacing an earlier one); returns its package folder."""
    if kind not in GRAPHS:
        raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    if scale <= 0:
        raise ValueError("scale must be positive")
    rng = random.Random(f"{kind}:{seed}")
    modules = GRAPHS[kind](rng, scale)
    root = f"synth_{kind}"
    shutil.rmtree(dest / root, ignore_errors=True)
    files = {module.name: module_source(module, seed, rng) for module in modules}
    imported = {dep.name for module in modules for dep in module.deps}
    files[f"{root}.main"] = main_source(root, [m for m in modules if m.name not in imported][:50])
    for name, text in files.items():
        write_module(dest, name, text)
    (dest / "mypy.ini").write_text(MYPY_INI)
    return dest / root


def write_module(dest: Path, name: str, text: str) -> None:
    """Write one module, with an `__init__.py` in every package above it."""
    parts = name.split(".")
    folder = dest.joinpath(*parts[:-1])
    folder.mkdir(parents=True, exist_ok=True)
    for depth in range(1, len(parts)):
        init = dest.joinpath(*parts[:depth], "__init__.py")
        if not init.exists():
            init.write_text(f'"""Package {".".join(parts[:depth])}."""\n')
    (folder / f"{parts[-1]}.py").write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("dest", type=Path, help="folder to write the project into")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies the module counts")
    args = parser.parse_args(argv)
    if args.scale <= 0:
        parser.error("--scale must be positive")
    package = generate(args.kind, args.dest, args.seed, args.scale)
    count = sum(1 for _ in package.rglob("*.py"))
    print(f"{package}: {count} files; check with: cd {args.dest} && mypy --config-file mypy.ini -p synth_{args.kind}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
