"""TypedDicts loaded from the cache, put back in the order their source gives their keys.

The engine's binary cache writes a TypedDict's items sorted by key, while a
check in memory keeps them in source order.  A fine-grained update compares a
module's symbols before and after an edit; when "before" comes from the cache,
every TypedDict whose keys are not in sorted order looks changed, so a body
edit of its module re-checks everything that uses it (whole modules, while
they are still as the cache left them).  mypy's daemon, which checked
everything in memory, sees no change there.

The order is read from the very text the cache describes (its hash must match
the cache's), with `ast`: only for the plain forms whose order is simply the
order of the keys in the source (a class whose only base is `TypedDict`, and
`TypedDict("Name", {...})`), and only when the keys found are exactly the
cached ones.  Anything else keeps the cache's order (still correct, possibly
slower on the first edit).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

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
    # Most modules define none: skip parsing them.
    if b"TypedDict" not in source:
        return {}
    try:
        return orders_in(ast.parse(source))
    except (SyntaxError, ValueError):
        return None


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


def orders_in(module: ast.Module) -> Orders:
    """Name inside the module -> keys in source order, for the plain TypedDict forms.

    A name defined twice (say in both branches of an `if`) is left out: which
    definition the engine kept is not known here.
    """
    found: dict[str, list[str]] = {}
    twice: set[str] = set()
    for name, keys in _definitions(module.body, ""):
        if name in found:
            twice.add(name)
        found[name] = keys
    return {name: keys for name, keys in found.items() if name not in twice}


def _definitions(body: list[ast.stmt], prefix: str) -> Iterator[tuple[str, list[str]]]:
    for statement in body:
        if isinstance(statement, ast.ClassDef):
            name = prefix + statement.name
            keys = _class_keys(statement)
            if keys is not None:
                yield name, keys
            yield from _definitions(statement.body, name + ".")
        elif isinstance(statement, ast.Assign):
            call_keys = _call_keys(statement)
            if call_keys is not None:
                yield prefix + call_keys[0], call_keys[1]
        elif isinstance(statement, (ast.If, ast.Try)):
            # Conditional definitions (`if TYPE_CHECKING:`, version checks).
            for block in _blocks(statement):
                yield from _definitions(block, prefix)


def _blocks(statement: ast.If | ast.Try) -> list[list[ast.stmt]]:
    if isinstance(statement, ast.If):
        return [statement.body, statement.orelse]
    return [statement.body, *(handler.body for handler in statement.handlers), statement.orelse, statement.finalbody]


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
