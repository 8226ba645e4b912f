"""Which checked modules look different to their importers once loaded from the cache.

The engine answers some questions about a dependency differently when the
dependency was checked in the same process (its trees and symbols as the
checker left them) and when it was read back from the cache: generated
methods lose their link to the class, callables stored in variables lose
their definition, function definitions keep no argument list and decorated
methods no decorators.  `mypy -n 0` has every module it checks in memory, so
a worker checking an importer must have such a module in memory too.

`cache_sensitive` is the conservative test: a module is sensitive when its
own symbols (module level and, recursively, its classes) hold any construct
whose cached form is known or suspected to differ.  A module found not
sensitive may be loaded from the cache anywhere without changing the answer;
a false positive only costs scheduling freedom.
"""

from __future__ import annotations

from mypy.nodes import (
    Decorator,
    MypyFile,
    OverloadedFuncDef,
    SymbolTable,
    TypeInfo,
    Var,
)
from mypy.types import CallableType, Instance, Overloaded, get_proper_type


def cache_sensitive(tree: MypyFile) -> bool:
    """Whether importers of this checked module may see it differently from the cache."""
    return _table_sensitive(tree.names, tree.fullname + ".", set())


def _table_sensitive(names: SymbolTable, own_prefix: str, seen: set[int]) -> bool:
    for symbol in names.values():
        if symbol.plugin_generated:
            return True
        node = symbol.node
        if node is None or isinstance(node, MypyFile):
            continue
        # Imported names belong to the module that defines them: that one is judged itself.
        if not node.fullname.startswith(own_prefix):
            continue
        if isinstance(node, TypeInfo):
            if id(node) in seen:
                continue
            seen.add(id(node))
            if _class_sensitive(node) or _table_sensitive(node.names, node.fullname + ".", seen):
                return True
        elif _node_sensitive(node):
            return True
    return False


def _class_sensitive(info: TypeInfo) -> bool:
    """Classes with methods that semantic analysis or a plugin generates."""
    return bool(
        info.is_named_tuple
        or info.is_newtype
        or info.typeddict_type is not None
        # Plugins (dataclasses, attrs, functools) record what they did here.
        or info.metadata
    )


def _node_sensitive(node: object) -> bool:
    if isinstance(node, OverloadedFuncDef):
        # Overload items and property setters lose their argument lists.
        return True
    if isinstance(node, Decorator):
        # Decorators that semantic analysis understood (staticmethod,
        # classmethod, property, ...) are removed from this list; the rest
        # are not kept in the cache.
        return bool(node.decorators)
    if isinstance(node, Var):
        return _callable_value(node)
    return False


def _callable_value(var: Var) -> bool:
    """A variable holding a function, an overload or a partial object.

    Its type links to the function's definition only in memory.
    """
    value = get_proper_type(var.type)
    if isinstance(value, (CallableType, Overloaded)):
        return True
    return isinstance(value, Instance) and value.extra_attrs is not None
