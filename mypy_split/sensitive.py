"""Which checked modules look different to their importers once loaded from the cache.

The engine answers some questions about a dependency differently when the
dependency was checked in the same process (its trees and symbols as the
checker left them) and when it was read back from the cache: generated
methods lose their link to the class, callables stored in variables lose
their definition, function definitions keep no argument list and decorated
methods no decorators.  `mypy -n 0` has every module it checks in memory, so
a worker checking an importer must have such a module in memory too.

`cache_sensitivity` is the conservative test, with two levels:

- `MESSAGES`: only the text of errors and notes about the module's symbols
  can differ (a note naming where a generated method is defined, a signature
  printed with or without `self`, overload variants, an instance method with
  keyword-only or star arguments printed through its class);
- `BINDING`: how the module's methods bind can differ, so types, and
  errors themselves, can differ: a decorated method (or overload item) whose
  decorated signature does not take the plain instance first.

A variable holding a static or class method is only `MESSAGES`, although an
importer that copies it into a class body binds the copy differently from
the cache (README, "Known limits"): such variables are common (`open =
TarFile.open`, one in the builtins cycle), such copies are rare, and as
`BINDING` every worker would check the standard library's core again on an
empty cache.

A module found `NONE` may be loaded from the cache anywhere without changing
the answer; a level too high only costs scheduling freedom.

The order of an enum's members and of a TypedDict's keys, which the cache
stores sorted, is no level here: the process that loads such a module puts
the order back (`stored_order.py`).

One difference shows only through the importer: any function loaded from
the cache keeps no argument list, and a copy of it into a class body (`m =
k`) is printed bound, as a method, with its first argument's name in memory
and without it from the cache (`def k(self, x: int)` against `def k(x:
int)`, in a protocol conflict).  Flagging every module that defines a
function would keep nearly every stale module in memory everywhere, so the
importer names the modules whose functions its class bodies copy
(`copied_function_modules`), once checked, and only those become `MESSAGES`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from mypy.nodes import (
    ARG_NAMED,
    ARG_NAMED_OPT,
    ARG_POS,
    ARG_STAR,
    ARG_STAR2,
    AssignmentStmt,
    Decorator,
    FuncDef,
    MypyFile,
    OverloadedFuncDef,
    RefExpr,
    Statement,
    SymbolNode,
    SymbolTable,
    TupleExpr,
    TypeInfo,
    Var,
)
from mypy.types import (
    AnyType,
    CallableType,
    FunctionLike,
    Instance,
    Overloaded,
    Type,
    TypeType,
    get_proper_type,
)
from mypy.typevars import fill_typevars


class Sensitivity(enum.IntEnum):
    NONE = 0
    MESSAGES = 1
    BINDING = 2


def cache_sensitivity(tree: MypyFile) -> Sensitivity:
    """How importers of this checked module may see it differently from the cache."""
    return _Walk().table(tree.names, tree.fullname + ".", None)


def copied_function_modules(tree: MypyFile) -> set[str]:
    """The modules whose functions a class of this checked module copies (`m = k` in its body).

    Read from the symbol tables (the engine frees a checked module's
    statements): a class attribute whose inferred type is a function's
    signature still names that function, in memory and from the cache alike.
    Classes nested or local to functions are in the module's table too; the
    attributes of a local class get their types only with the function's
    body, so until then its statements tell.
    """
    found: set[str] = set()
    seen: set[int] = set()
    pending = [symbol.node for symbol in tree.names.values()]
    while pending:
        node = pending.pop()
        if not isinstance(node, TypeInfo) or node.module_name != tree.fullname or id(node) in seen:
            continue
        seen.add(id(node))
        for symbol in node.names.values():
            member = symbol.node
            if isinstance(member, TypeInfo):
                pending.append(member)
            elif isinstance(member, Var):
                found.update(_defining_modules(member.type))
        found.update(_copied_by_statements(node.defn.defs.body))
    found.discard(tree.fullname)
    return found


def _copied_by_statements(body: list[Statement]) -> Iterable[str]:
    """Functions named on the right of a class body's assignments (`m = k`, `m, n = k, j`)."""
    for statement in body:
        if not isinstance(statement, AssignmentStmt):
            continue
        value = statement.rvalue
        for item in value.items if isinstance(value, TupleExpr) else [value]:
            node = item.node if isinstance(item, RefExpr) else None
            if isinstance(node, Decorator):
                node = node.func
            if isinstance(node, (FuncDef, OverloadedFuncDef)):
                yield _module_of(node)


def _defining_modules(value: Type | None) -> Iterable[str]:
    """The modules of the functions a variable's callable type was copied from."""
    proper = get_proper_type(value)
    if not isinstance(proper, FunctionLike):
        return
    for item in proper.items:
        if isinstance(item.definition, FuncDef):
            yield _module_of(item.definition)


def _module_of(function: FuncDef | OverloadedFuncDef) -> str:
    # A method's class knows its module; a function's info is a false placeholder.
    info = function.info
    return info.module_name if info else function.fullname.rpartition(".")[0]


class _Walk:
    """The symbols a module defines, classes included, until one binds differently (the top level)."""

    def __init__(self) -> None:
        self.seen: set[int] = set()

    def table(self, names: SymbolTable, own_prefix: str, owner: TypeInfo | None) -> Sensitivity:
        level = Sensitivity.NONE
        for symbol in names.values():
            node = symbol.node
            if symbol.plugin_generated:
                level = max(level, Sensitivity.MESSAGES)
            if node is None or isinstance(node, MypyFile):
                continue
            # Imported names belong to the module that defines them: that one is
            # judged itself (a package's names from its submodules too).
            if not _defined_here(node.fullname, own_prefix):
                continue
            if isinstance(node, TypeInfo):
                if id(node) in self.seen:
                    continue
                self.seen.add(id(node))
                if _class_generates_methods(node):
                    level = max(level, Sensitivity.MESSAGES)
                level = max(level, self.table(node.names, node.fullname + ".", node))
            else:
                level = max(level, _node_sensitivity(node, owner))
            if level is Sensitivity.BINDING:
                break
        return level


def _defined_here(fullname: str, own_prefix: str) -> bool:
    return fullname.startswith(own_prefix) and "." not in fullname[len(own_prefix) :]


def _class_generates_methods(info: TypeInfo) -> bool:
    """Classes with methods that semantic analysis or a plugin generates."""
    return bool(
        info.is_named_tuple
        or info.is_newtype
        or info.typeddict_type is not None
        # Plugins (dataclasses, attrs, functools) record what they did here.
        or info.metadata
    )


def _node_sensitivity(node: SymbolNode, owner: TypeInfo | None) -> Sensitivity:
    if isinstance(node, OverloadedFuncDef):
        # Overload items and property setters lose their argument lists.
        if owner is not None and _overload_binds_differently(node, owner):
            return Sensitivity.BINDING
        return Sensitivity.MESSAGES
    if isinstance(node, Decorator):
        # Decorators that semantic analysis understood (staticmethod,
        # classmethod, property, ...) are removed from this list; the rest
        # are not kept in the cache.
        if not node.decorators:
            return Sensitivity.NONE
        if owner is not None and _decorated_method_binds_differently(node, owner):
            return Sensitivity.BINDING
        return Sensitivity.MESSAGES
    if isinstance(node, Var):
        return _variable_sensitivity(node)
    if isinstance(node, FuncDef) and owner is not None and _signature_printed_with_self_from_cache(node):
        return Sensitivity.MESSAGES
    return Sensitivity.NONE


# Argument kinds that make the engine print a callable as `def name(...)`
# rather than `Callable[[...], ...]` in errors about its type.
_SPELLED_OUT = (ARG_STAR, ARG_STAR2, ARG_NAMED, ARG_NAMED_OPT)


def _signature_printed_with_self_from_cache(func: FuncDef) -> bool:
    """An instance method whose unbound signature errors spell out as `def member(...)`.

    From the cache the engine prefixes such a signature with the method's
    first argument's name whether or not the signature still has it, so
    `Thing.member` reads `def member(self, self: Thing, ...)` there and
    `def member(self: Thing, ...)` in memory (found by
    misc/cache_memory_grid.py).  Static methods get no prefix, and class
    methods are bound through the class too, the same both ways.
    """
    if func.is_static or func.is_class:
        return False
    return any(kind in _SPELLED_OUT for kind in func.arg_kinds)


def _decorated_method_binds_differently(node: Decorator, owner: TypeInfo) -> bool:
    """Whether binding the method takes another path once its decorators are gone.

    With decorators, the engine checks the decorated signature's self
    argument against the instance and infers type variables from it; from
    the cache it drops the first argument unchecked (its fast path for an
    undecorated method with a plain `self`).  The two agree when every
    signature's first argument is the plain instance (or class, for a class
    method), as in an undecorated method, or `Any` (checked against nothing,
    and dropped, or absorbed by `*args`, the same both ways).
    """
    func = node.func
    if func.is_static or not func.is_trivial_self:
        # No binding at all, or the full path both ways.
        return False
    return not _first_argument_is_plain_self(node.var.type, owner, func.is_class)


def _overload_binds_differently(node: OverloadedFuncDef, owner: TypeInfo) -> bool:
    """The same question for an overloaded method whose items carry decorators."""
    if node.is_static:
        return False
    from_cache = all(
        item.func.is_trivial_self if isinstance(item, Decorator) else item.is_trivial_self
        for item in node.items
    )
    if node.is_trivial_self == from_cache:
        return False
    return not _first_argument_is_plain_self(node.type, owner, node.is_class)


def _first_argument_is_plain_self(signature: Type | None, owner: TypeInfo, is_class: bool) -> bool:
    proper = get_proper_type(signature)
    if not isinstance(proper, FunctionLike):
        # Not a callable (a descriptor object, no type at all): never bound.
        return True
    plain = get_proper_type(fill_typevars(owner))
    if is_class:
        plain = TypeType.make_normalized(plain)
    for item in proper.items:
        if not item.arg_types:
            return False
        first = get_proper_type(item.arg_types[0])
        if isinstance(first, AnyType) and item.arg_kinds[0] in (ARG_POS, ARG_STAR):
            continue
        if item.arg_kinds[0] != ARG_POS or first != plain:
            return False
    return True


def _variable_sensitivity(var: Var) -> Sensitivity:
    """A variable holding a function, an overload or a partial object.

    Its type links to the function's definition only in memory.
    """
    value = get_proper_type(var.type)
    if isinstance(value, (CallableType, Overloaded)):
        return Sensitivity.MESSAGES
    if isinstance(value, Instance) and value.extra_attrs is not None:
        return Sensitivity.MESSAGES
    return Sensitivity.NONE
