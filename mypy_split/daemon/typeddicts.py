"""TypedDicts loaded from the cache, put back in the order their source gives their keys.

The engine's binary cache writes a TypedDict's items sorted by key, while a
check in memory keeps them in source order.  A fine-grained update compares a
module's symbols before and after an edit; when "before" comes from the cache,
every TypedDict whose keys are not in sorted order looks changed, so a body
edit of its module re-checks everything that uses it (whole modules, while
they are still as the cache left them).  mypy's daemon, which checked
everything in memory, sees no change there.

The order is read from the very text the cache describes (its hash must match
the cache's), while the daemon is idle and before an edit can change it:
only for the plain forms whose order is simply the order of the keys in the
source (a class whose only base is `TypedDict`, and `TypedDict("Name", {...})`),
and only when the keys found are exactly the cached ones.  Anything else
keeps the cache's order (still correct, possibly slower on the first edit).
"""

from __future__ import annotations

import ast
import bisect
import itertools
import re

from mypy.nodes import MypyFile, TypeInfo
from mypy.types import TypedDictType
from mypy.util import hash_digest

# Statements a TypedDict class body may hold besides its keys.
_FILLERS = (ast.Pass, ast.Expr)


Orders = dict[str, list[str]]


def source_orders(path: str, cached_hash: str) -> Orders | None:
    """Name inside the module -> keys in source order, read from the text the cache describes.

    None when the file is not that text any more (or cannot be read).  The
    file is read directly, not through the daemon's file cache, whose stat
    results must stay as the last check saw them.
    """
    try:
        with open(path, "rb") as f:
            source = f.read()
    except OSError:
        return None
    if hash_digest(source) != cached_hash:
        return None
    # Most modules define none.
    if b"TypedDict" not in source:
        return {}
    return orders_in(source)


def restore_source_order(tree: MypyFile, orders: Orders) -> int:
    """Reorder the items of `tree`'s TypedDicts as `orders` has them; the count reordered."""
    reordered = 0
    for local_name, order in orders.items():
        info = defined_class(tree, local_name)
        if info is None or info.typeddict_type is None or len(set(order)) != len(order):
            continue
        if not reorder(info.typeddict_type, order):
            continue
        # Annotations naming the class reach its items through this alias's own copy.
        alias = info.special_alias
        if alias is not None and isinstance(alias.target, TypedDictType):
            reorder(alias.target, order)
        reordered += 1
    return reordered


def reorder(typed_dict: TypedDictType, order: list[str]) -> bool:
    """Put the items in `order` if it names exactly the same keys; False when nothing changed."""
    if list(typed_dict.items) == order or set(typed_dict.items) != set(order):
        return False
    typed_dict.items = {key: typed_dict.items[key] for key in order}
    return True


def defined_class(tree: MypyFile, local_name: str) -> TypeInfo | None:
    """The class `tree` defines as `local_name` ("Outer.Inner"), if it is one."""
    table = tree.names
    info: TypeInfo | None = None
    for part in local_name.split("."):
        symbol = table.get(part)
        if symbol is None or not isinstance(symbol.node, TypeInfo):
            return None
        info = symbol.node
        table = info.names
    # Not a name imported from elsewhere.
    if info is None or info.fullname != f"{tree.fullname}.{local_name}":
        return None
    return info


def orders_in(source: bytes) -> Orders:
    """Name inside the module -> keys in source order, for the plain TypedDict forms in `source`.

    Parsing a whole module costs far more than everything else the daemon
    does while idle, so only each definition's own lines are parsed: from
    its first line to the next line indented no deeper (a cut in the wrong
    place leaves text that does not parse, and is skipped).  A name defined
    twice (in both branches of an `if`, or once more in a docstring) is left
    out: which definition the engine kept is not known here.
    """
    lines = source.splitlines()
    # Where each line starts, to find a match's line without splitting the text before it again.
    starts = list(itertools.accumulate((len(line) for line in source.splitlines(keepends=True)), initial=0))
    found: dict[str, list[str]] = {}
    twice: set[str] = set()
    for match in _DEFINITION.finditer(source):
        index = bisect.bisect_right(starts, match.start()) - 1
        definition = _parse_definition(lines, index, match.group(1))
        if definition is None:
            continue
        name, keys = definition
        if name in found:
            twice.add(name)
        found[name] = keys
    return {name: keys for name, keys in found.items() if name not in twice}


# The first line of `class X(TypedDict...` or `X = TypedDict(...`.
_DEFINITION = re.compile(
    rb"^([ \t]*)(?:class[ \t]+\w+[ \t]*\([ \t]*[\w.]*TypedDict\b|\w+[ \t]*=[ \t]*[\w.]*TypedDict[ \t]*\()",
    re.MULTILINE,
)
_CLASS_HEADER = re.compile(rb"class[ \t]+(\w+)")
# Blocks whose classes the engine names as if defined outside them.
_TRANSPARENT = re.compile(rb"(?:if|elif|else|try|except|finally)\b")


def _parse_definition(lines: list[bytes], index: int, indent: bytes) -> tuple[str, list[str]] | None:
    """(name inside the module, keys) of the definition starting at `lines[index]`, if a plain one."""
    block = [lines[index][len(indent) :]]
    for line in lines[index + 1 :]:
        rest = line[len(indent) :]
        if not line.strip() or (line.startswith(indent) and (rest[:1] in (b" ", b"\t", b"#", b")", b"]", b"}"))):
            block.append(rest)
        else:
            break
    try:
        statements = ast.parse(b"\n".join(block)).body
    except (SyntaxError, ValueError):
        return None
    if len(statements) != 1:
        return None
    statement = statements[0]
    if isinstance(statement, ast.ClassDef):
        keys = _class_keys(statement)
        definition = None if keys is None else (statement.name, keys)
    elif isinstance(statement, ast.Assign):
        definition = _call_keys(statement)
    else:
        return None
    outer = _enclosing_classes(lines, index, len(indent))
    if definition is None or outer is None:
        return None
    return outer + definition[0], definition[1]


def _enclosing_classes(lines: list[bytes], index: int, depth: int) -> str | None:
    """"Outer." for a class defined in class Outer, "" at module level; None inside a function."""
    names: list[str] = []
    for line in reversed(lines[:index]):
        if depth == 0:
            break
        stripped = line.lstrip(b" \t")
        if not stripped or stripped.startswith(b"#") or len(line) - len(stripped) >= depth:
            continue
        depth = len(line) - len(stripped)
        header = _CLASS_HEADER.match(stripped)
        if header is not None:
            names.append(header.group(1).decode())
        elif not _TRANSPARENT.match(stripped):
            return None
    if depth != 0:
        return None
    return "".join(name + "." for name in reversed(names))


def _is_typeddict_name(expr: ast.expr) -> bool:
    if isinstance(expr, ast.Name):
        return expr.id == "TypedDict"
    return isinstance(expr, ast.Attribute) and expr.attr == "TypedDict"


def _class_keys(statement: ast.ClassDef) -> list[str] | None:
    """The keys of `class X(TypedDict): ...` in order; None for any other class."""
    if len(statement.bases) != 1 or not _is_typeddict_name(statement.bases[0]):
        return None
    keys: list[str] = []
    for item in statement.body:
        if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
            keys.append(item.target.id)
        elif not isinstance(item, _FILLERS):
            return None
    return keys


def _call_keys(statement: ast.Assign) -> tuple[str, list[str]] | None:
    """(name, keys in order) of `X = TypedDict("X", {"a": ..., ...})`; None otherwise."""
    if len(statement.targets) != 1 or not isinstance(statement.targets[0], ast.Name):
        return None
    call = statement.value
    if not isinstance(call, ast.Call) or not _is_typeddict_name(call.func) or len(call.args) != 2:
        return None
    fields = call.args[1]
    if not isinstance(fields, ast.Dict):
        return None
    keys: list[str] = []
    for key in fields.keys:
        if not isinstance(key, ast.Constant) or not isinstance(key.value, str):
            return None
        keys.append(key.value)
    return statement.targets[0].id, keys
