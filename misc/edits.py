"""Edits a benchmark makes to a corpus: which module, what change, and the undo.

A corpus's modules are found under its roots and their imports read with
`ast` (no engine): the *core* module is the one imported by the most other
modules of the corpus, a *leaf* one that no module imports.  Three edits:

    leaf-body        one statement (with a type error) in a function body of the leaf
    core-body        the same in the core module: its interface stays the same
    core-interface   a new public function at the end of the core module: its
                     interface hash changes, so every module importing it is stale

Every edit restores the file's bytes and mtime when it ends, so a cache
written before the edit is fresh again afterwards.
"""

from __future__ import annotations

import ast
import contextlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

# A statement with a type error, so the edit also shows in the answer.
BODY_LINE = '_corpus_edit: int = "edited"  # inserted by misc/edits.py'
# A new public name: changes the module's interface (and its public API).
INTERFACE_TEXT = (
    "\n\ndef corpus_edit_added_api(value: int) -> int:  # inserted by misc/edits.py\n"
    "    return value + 1\n"
)


@dataclass(frozen=True)
class Targets:
    """The modules a benchmark edits, with how many modules import each directly."""

    leaf: Path
    core: Path
    core_importers: int


# ---------------------------------------------------------------- finding the modules


def module_files(roots: Sequence[Path]) -> dict[str, Path]:
    """Dotted module name -> file, for every `.py` under each root (a package folder)."""
    found: dict[str, Path] = {}
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            parts = list(path.relative_to(root.parent).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            if all(part.isidentifier() for part in parts):
                found[".".join(parts)] = path
    return found


def imported_names(module: str, path: Path, tree: ast.Module) -> set[str]:
    """Every dotted name an import statement of the module may refer to."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in statements(tree.body):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = resolve_from(package, node.module, node.level)
            if base is None:
                continue
            names.add(base)
            # `from pkg import mod` imports the submodule where there is one.
            names.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return names


def statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Every statement, nested ones included; expressions are skipped (imports are statements)."""
    for statement in body:
        yield statement
        for name in ("body", "orelse", "finalbody"):
            inner = getattr(statement, name, None)
            if isinstance(inner, list):
                yield from statements(inner)
        if isinstance(statement, ast.Try):
            for handler in statement.handlers:
                yield from statements(handler.body)


def resolve_from(package: str, module: str | None, level: int) -> str | None:
    if level == 0:
        return module
    parts = package.split(".") if package else []
    if level - 1 > len(parts):
        return None
    base = parts[: len(parts) - (level - 1)]
    if module:
        base.append(module)
    return ".".join(base) or None


def parse_all(files: dict[str, Path]) -> dict[str, ast.Module]:
    """Each module's syntax tree; one that does not parse is left out."""
    trees = {}
    for module, path in files.items():
        try:
            trees[module] = ast.parse(path.read_bytes(), filename=str(path))
        except (SyntaxError, ValueError):
            continue
    return trees


def importers(files: dict[str, Path], trees: dict[str, ast.Module]) -> dict[str, set[str]]:
    """For each module of the corpus, the other modules of it that import it directly."""
    found: dict[str, set[str]] = {name: set() for name in files}
    for module, tree in trees.items():
        for name in imported_names(module, files[module], tree) & found.keys():
            if name != module:
                found[name].add(module)
    return found


def importer_counts(files: dict[str, Path]) -> dict[str, int]:
    return {name: len(users) for name, users in importers(files, parse_all(files)).items()}


def reach(module: str, users: dict[str, set[str]]) -> int:
    """How many modules import `module` directly or through others."""
    seen: set[str] = set()
    frontier = [module]
    while frontier:
        for user in users[frontier.pop()]:
            if user not in seen:
                seen.add(user)
                frontier.append(user)
    return len(seen - {module})


def choose_targets(roots: Sequence[Path], preferred_leaf: Path | None = None) -> Targets:
    """The core (most imported directly, with an editable body) and a leaf (imported by none).

    The leaf is `preferred_leaf` if given, else a median-sized unimported
    module: typical rather than the largest test file.
    """
    files = module_files(roots)
    trees = parse_all(files)
    users = importers(files, trees)
    counts = {name: len(found) for name, found in users.items()}
    editable = {name for name, tree in trees.items() if find_body_statement(tree) is not None}
    if not editable:
        raise ValueError(f"no module with a function body to edit under {', '.join(map(str, roots))}")
    most = max(counts[name] for name in editable)
    # Ties (a chain: one importer each) go to the module most others depend on.
    tied = sorted(name for name in editable if counts[name] == most)
    core = max(tied, key=lambda name: reach(name, users))
    if preferred_leaf is not None:
        leaf = preferred_leaf
    else:
        leaves = sorted((files[n] for n in editable if counts[n] == 0 and n != core), key=file_size)
        leaf = leaves[len(leaves) // 2] if leaves else files[min(editable, key=lambda n: counts[n])]
    return Targets(leaf=leaf, core=files[core], core_importers=counts[core])


def file_size(path: Path) -> tuple[int, str]:
    return path.stat().st_size, str(path)


# ---------------------------------------------------------------- the edits


def find_body_statement(tree: ast.Module, lines: list[str] | None = None) -> int | None:
    """The 0-based line of the first statement of a function body that starts a line below its `def`.

    After the docstring where there is one, so the function keeps it.
    Without `lines`, a statement is assumed to start its line.
    """
    for node in ast.walk(tree):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        body = node.body[1:] if len(node.body) > 1 and is_docstring(node.body[0]) else node.body
        for statement in body:
            index = statement.lineno - 1
            if index > node.lineno - 1 and (lines is None or not lines[index][: statement.col_offset].strip()):
                return index
    return None


def body_edit_point(text: str) -> int | None:
    """The 0-based line before which one statement can go into a function body."""
    return find_body_statement(ast.parse(text), text.splitlines())


def is_docstring(statement: ast.stmt) -> bool:
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
    )


def with_body_edit(text: str) -> str:
    index = body_edit_point(text)
    if index is None:
        raise ValueError("no function body to edit")
    lines = text.splitlines(keepends=True)
    indent = lines[index][: len(lines[index]) - len(lines[index].lstrip())]
    lines.insert(index, f"{indent}{BODY_LINE}\n")
    edited_text = "".join(lines)
    compile(edited_text, "<edit>", "exec")
    return edited_text


def with_interface_edit(text: str) -> str:
    edited_text = text.rstrip("\n") + "\n" + INTERFACE_TEXT
    compile(edited_text, "<edit>", "exec")
    return edited_text


EDITS = {"body": with_body_edit, "interface": with_interface_edit}


@contextlib.contextmanager
def edited(path: Path, kind: str = "body") -> Iterator[None]:
    """Apply one edit (`body` or `interface`) to `path`; restore bytes and mtime after."""
    original = path.read_bytes()
    stat = path.stat()
    try:
        path.write_text(EDITS[kind](original.decode("utf-8")), encoding="utf-8")
        # A later mtime, as an editor would leave; the size changes anyway.
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
        yield
    finally:
        path.write_bytes(original)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
