"""Which checked modules look different to their importers once loaded from the cache.

The engine answers some questions about a dependency differently when the
dependency was checked in the same process (its trees and symbols as the
checker left them) and when it was read back from the cache.  `mypy -n 0`
has every module it checks in memory, so a worker checking an importer must
see such a module as it was in memory.  Most of what the cache loses is put
back where the module is loaded: orders (`stored_order.py`), argument lists
and definition links (`memory_form.py`).  What is left is judged here.

`cache_sensitivity` is the conservative test, with two levels:

- `MESSAGES`: only the text of errors and notes about the module's symbols
  can differ: a symbol whose definition link `memory_form.py` cannot write
  down (a variable holding a lambda or a function defined inside another);
- `BINDING`: how the module's methods bind can differ, so types, and
  errors themselves, can differ: a decorated method (or overload item) whose
  decorated signature does not take the plain instance first (the cache
  keeps no decorators, and the engine binds such a method as if undecorated).

A module found `NONE` may be loaded from the cache anywhere, its records put
back, without changing the answer; a level too high only costs scheduling
freedom.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from mypy.nodes import ARG_POS, ARG_STAR, Decorator, MypyFile, OverloadedFuncDef, SymbolNode, TypeInfo
from mypy.types import AnyType, FunctionLike, Type, TypeType, get_proper_type
from mypy.typevars import fill_typevars

from mypy_split.build_worker import faults


class Sensitivity(enum.IntEnum):
    NONE = 0
    MESSAGES = 1
    BINDING = 2


def cache_sensitivity(tree: MypyFile, own: Iterable[SymbolNode], restorable: bool) -> Sensitivity:
    """How importers of this checked module may see it differently from the cache.

    `own`: the symbols the module defines, its classes' too (imported names
    belong to the module that defines them, which is judged itself);
    `restorable`: whether `memory_form.py` could write down all that the
    module's cache entry loses (else `MESSAGES` at least).
    """
    level = Sensitivity.NONE
    for node in own:
        owner = node.info if isinstance(node, (Decorator, OverloadedFuncDef)) else None
        if owner and _binds_differently(node, owner):
            level = Sensitivity.BINDING
            break
    if not restorable or faults.withheld(tree.fullname):
        level = max(level, Sensitivity.MESSAGES)
    return level


def _binds_differently(node: SymbolNode, owner: TypeInfo) -> bool:
    if isinstance(node, OverloadedFuncDef):
        return _overload_binds_differently(node, owner)
    # Decorators that semantic analysis understood (staticmethod, classmethod,
    # property, ...) are removed from this list; the rest are not kept in the cache.
    return isinstance(node, Decorator) and bool(node.decorators) and _decorated_method_binds_differently(node, owner)


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
