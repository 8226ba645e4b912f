"""Argument lists and definition links the cache does not keep: written down where checked, put back where loaded.

Messages print a callable with the help of the function it comes from (its
`definition`): that function's argument list decides whether a signature is
printed with its first argument's name (`def to(self: Conv, x: int)` in
memory, `def to(self, self: Conv, x: int)` from the cache), and the link
itself decides the `defined in "base"` notes, the name printed for a
constructor, and how a function copied into a class body binds.  Two things
differ once a module is read back from the cache:

- every function definition loses its argument list (the engine deletes
  it: `FuncDef.arguments`), so the engine takes its other path for the
  first argument's name;
- the links are rebuilt by the loader, not kept: each function's own
  signature and each overload item's gets its definition, whatever the
  checker had left there (a generated method's signature has none in
  memory), and every other signature
  stored in a symbol (a variable holding a function, `connect_to =
  connect`) gets none.

`mypy -n 0` has every module it checks in this run in memory.  So the
process that checks a module writes down what the loader will not rebuild
(`recorded`): one record for what holds module-wide (`MODULE`: its functions
had their argument lists), and each link that the loader would set
otherwise, naming the definition by its full name (`DEFINITIONS`; a link to
a decorated definition and one to its function read the same, as every
reader of a link takes the function).  The records travel with the stored orders
(`stored_order.py`), and a process that loads the module from the cache puts
them back (`restore`) before checking anything against it.  A module not
checked in this run has no record: `mypy -n 0` loads it from the cache too.

Workers put argument lists back lazily: on the functions read so far, when
an answer prints a signature (`restore_read_functions`); a signature the
answer prints may then have been printed without its function's list, and
`printed_signatures.py` tells whether it may read otherwise with it (the
coordinator then checks the SCC again, `confirm.py`).

A link to something that cannot be found again by its full name is not
written down; `recorded` then says the module cannot be restored, and
`sensitive.py` keeps it in memory instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TypeVar

from mypy.lookup import lookup_fully_qualified
from mypy.nodes import (
    ARG_POS,
    ARG_STAR,
    ARG_STAR2,
    ArgKind,
    DECORATOR,
    FUNC_DEF,
    OVERLOADED_FUNC_DEF,
    Argument,
    Decorator,
    FuncDef,
    MypyFile,
    OverloadedFuncDef,
    SymbolNode,
    SymbolTable,
    SymbolTableNode,
    TypeInfo,
    Var,
)
from mypy.type_visitor import TypeQuery
from mypy.types import CallableType, Instance, Overloaded, ProperType, Type, UnpackType

from mypy_split.build_worker import faults
from mypy_split.header_values import OrderRecord
from mypy_split.printed_signatures import Lacked, Printed, Shape

MODULE = "module"
DEFINITIONS = "definitions"

# How a link is written down: the same as the loader makes it, none at all,
# or the full name of a definition after its kind (`f:` a function, `d:` a
# decorated function, `o:` an overloaded one), with `#N` for an overload's
# N-th item and `#impl` for its implementation.
SAME = "="
NONE = ""
IMPLEMENTATION = "impl"
_KIND_OF = {FuncDef: "f", Decorator: "d", OverloadedFuncDef: "o"}

# A place where a link lives: a signature, and the definition the loader gives it.
Slot = tuple[CallableType, SymbolNode | None]


def recorded(
    tree: MypyFile, nodes: Iterable[SymbolNode], modules: dict[str, MypyFile]
) -> tuple[list[OrderRecord], bool]:
    """What the loader will not rebuild for this checked module's symbols (`nodes`, its own), and
    whether that is all it loses (False: some link or argument list cannot be written down).
    """
    if faults.withheld(tree.fullname):
        return [], False
    records: list[OrderRecord] = [(MODULE, tree.fullname, [])]
    restorable = True
    for node in nodes:
        if not all(_argument_list_restorable(function) for function in _functions(node)):
            restorable = False
        refs = _written_links(node, modules)
        if refs is None:
            restorable = False
        elif any(ref != SAME for ref in refs):
            records.append((DEFINITIONS, node.fullname, [refs]))
    return records, restorable


def restore_module(tree: MypyFile) -> None:
    """Put a module's `MODULE` record back: its functions' argument lists.

    Only functions are touched: the loader reads a module's other symbols
    from their bytes when first used, and reading them all here would cost
    every process the whole module (time and memory) for nothing.
    """
    for entry in function_entries(tree):
        node = entry.node
        if node is not None:
            for function in _functions(node):
                _put_back_arguments(function)


def restore_read_functions(entries: list[SymbolTableNode]) -> tuple[list[Lacked], list[SymbolTableNode]]:
    """Put back the argument lists of the functions of these entries (`function_entries`) read since
    their module was loaded; those that lacked one, and the entries not read yet.

    The lazy form of `restore_module` (`StoredOrders(lazy_argument_lists=True)`):
    a function the loader has not read yet stays unread.
    """
    lacked: list[Lacked] = []
    unread: list[SymbolTableNode] = []
    for entry in entries:
        node = entry.node if entry._node is not None else None
        if node is None:
            unread.append(entry)
            continue
        for function, shapes in _shapes(node).items():
            if not hasattr(function, "arguments"):
                lacked.append(_lacked(function, shapes))
                _put_back_arguments(function)
    return lacked, unread


def _shapes(node: SymbolNode) -> dict[FuncDef, list[Shape]]:
    """Each function of a symbol, with the shapes of the signatures linked to it.

    Those the loader links (`_slots`), and for a function without a type
    the one the engine makes from its definition (`function_type`: every
    argument `Any`).
    """
    found: dict[FuncDef, list[Shape]] = {}
    for function in _functions(node):
        untyped = [_printed_names(function.arg_kinds, function.arg_names)] if function.type is None else []
        found[function] = [(names, True) for names in untyped]
    for signature, definition in _slots(node):
        linked = definition.func if isinstance(definition, Decorator) else definition
        if isinstance(linked, FuncDef) and linked in found:
            found[linked].append(_shape(signature))
    if isinstance(node, Decorator) and node.var.type is not None and not isinstance(node.var.type, CallableType):
        # Decorated into something else than a plain signature (an overload, a callable object).
        found[node.func].append(None)
    return found


def _shape(signature: CallableType) -> Shape:
    names = _printed_names(signature.arg_kinds, signature.arg_names)
    stars = [index for index, kind in enumerate(signature.arg_kinds) if kind.is_star()]
    if stars and (
        signature.param_spec() is not None
        or signature.unpack_kwargs
        or any(isinstance(signature.arg_types[index], UnpackType) for index in stars)
    ):
        return names[: stars[0]], False
    return names, True


def _printed_names(kinds: list[ArgKind], names: Sequence[str | None]) -> tuple[Printed, ...]:
    prefixes = {ARG_STAR: "*", ARG_STAR2: "**"}
    return tuple((prefixes.get(kind, ""), name) for kind, name in zip(kinds, names))


def _lacked(function: FuncDef, shapes: list[Shape]) -> Lacked:
    return Lacked(
        function.name,
        len(function.arg_kinds),
        None if not function.info or function.is_static else function.original_first_arg,
        _first_name(function),
        tuple(shapes),
    )


def restore_links(node: SymbolNode, orders: list[list[str]], modules: dict[str, MypyFile]) -> None:
    """Put a `DEFINITIONS` record back on the symbol it names (a no-op where the links are as written)."""
    slots = _slots(node)
    if len(orders) != 1 or len(slots) != len(orders[0]):
        return
    for (signature, _), ref in zip(slots, orders[0]):
        if ref != SAME:
            signature.definition = None if ref == NONE else _resolve(ref, modules)


def function_entries(tree: MypyFile) -> list[SymbolTableNode]:
    """The entries of the module's own function symbols (of its classes too), read or not, left unread.

    Imported names are cross-references.  The loader reads classes at once
    (only functions, variables and aliases are stored to be read when first
    used), so their tables are there to look in.
    """
    entries: list[SymbolTableNode] = []
    tables: list[tuple[SymbolTable, str]] = [(tree.names, tree.fullname + ".")]
    seen: set[int] = set()
    while tables:
        names, prefix = tables.pop()
        for name, entry in names.items():
            if entry.cross_ref is not None:
                continue
            if entry._node_tag in _FUNCTION_TAGS:
                entries.append(entry)
                continue
            node = entry.node if entry._node is not None else None
            if isinstance(node, TypeInfo) and node.fullname == prefix + name and id(node) not in seen:
                seen.add(id(node))
                tables.append((node.names, node.fullname + "."))
    return entries


# How the cache stores a function's symbol (`SymbolTableNode._node_tag`).
_FUNCTION_TAGS = (FUNC_DEF, DECORATOR, OVERLOADED_FUNC_DEF)


# ---------------------------------------------------------------- argument lists


def _functions(node: SymbolNode) -> Iterator[FuncDef]:
    """The function definitions a symbol holds (an overload's items and implementation too)."""
    if isinstance(node, FuncDef):
        yield node
    elif isinstance(node, Decorator):
        yield node.func
    elif isinstance(node, OverloadedFuncDef):
        for part in [*node.items, *([node.impl] if node.impl is not None else [])]:
            yield part.func if isinstance(part, Decorator) else part


def _argument_list_restorable(function: FuncDef) -> bool:
    """Whether the argument list can be rebuilt from what the cache keeps, as far as messages read it.

    Messages read only its length and its first argument's name; the cache
    keeps the kinds and the first name (`original_first_arg`).
    """
    if not hasattr(function, "arguments"):
        return True  # Loaded from the cache here too: nothing to put back.
    arguments = function.arguments
    first = arguments[0].variable.name if arguments else None
    return len(arguments) == len(function.arg_kinds) and first == function.original_first_arg


def _put_back_arguments(function: FuncDef) -> None:
    if hasattr(function, "arguments"):
        return
    count = len(function.arg_kinds)
    if not count:
        function.arguments = []
        return
    first = _first_name(function)
    argument = _FIRST_ARGUMENTS.get(first)
    if argument is None:
        argument = _FIRST_ARGUMENTS[first] = Argument(Var(first), None, None, ARG_POS)
    function.arguments = [argument, *[_OTHER_ARGUMENT] * (count - 1)]


def _first_name(function: FuncDef) -> str:
    """The first argument's name, as the cache keeps it ("" for none)."""
    return function.original_first_arg or next(iter(function.arg_names), None) or ""


# Messages read a put-back list for its length and its first argument's name
# only, and nothing changes a loaded function's arguments: the lists share
# one argument per first name and one placeholder for the rest, which keeps
# the memory they take to a list per function.
_FIRST_ARGUMENTS: dict[str, Argument] = {}
_OTHER_ARGUMENT = Argument(Var(""), None, None, ARG_POS)


# ---------------------------------------------------------------- definition links


def _slots(node: SymbolNode) -> list[Slot]:
    """The signatures a symbol stores, each with the definition the loader links it to.

    The order depends only on the symbol's shape, the same in memory and
    from the cache.
    """
    if isinstance(node, FuncDef):
        return _function_slots(node)
    if isinstance(node, Decorator):
        return _decorator_slots(node)
    if isinstance(node, OverloadedFuncDef):
        slots: list[Slot] = []
        if isinstance(node.type, Overloaded):
            slots.extend(zip(node.type.items, node.items))
        for part in [*node.items, *([node.impl] if node.impl is not None else [])]:
            slots.extend(_decorator_slots(part) if isinstance(part, Decorator) else _function_slots(part))
        return slots
    if isinstance(node, Var) and node.type is not None:
        return [(signature, None) for signature in _signatures_in(node.type)]
    return []


def _signatures_in(value: Type) -> list[CallableType]:
    """The signatures in a variable's type, in a walk that depends only on its shape."""
    # Most variables hold plain instances: no walk for them.
    if isinstance(value, Instance) and not value.args and value.extra_attrs is None:
        return []
    return value.accept(_Signatures())


T = TypeVar("T")


class Collected(TypeQuery[list[T]]):
    """A walk of a type that collects parts of it, in a list in the order met.

    Aliases are stored by name and belong to the module defining them, so
    the walk does not enter them.
    """

    def __init__(self) -> None:
        super().__init__()
        self.skip_alias_target = True

    def strategy(self, items: list[list[T]]) -> list[T]:
        return [part for found in items for part in found]


class _Signatures(Collected[CallableType]):
    """Every signature in a type, those in the attributes an instance carries too (a partial's `__call__`)."""

    def visit_callable_type(self, t: CallableType, /) -> list[CallableType]:
        return [t, *super().visit_callable_type(t)]

    def visit_instance(self, t: Instance, /) -> list[CallableType]:
        found = super().visit_instance(t)
        if t.extra_attrs is not None:
            attrs = t.extra_attrs.attrs
            found += self.query_types([attrs[name] for name in sorted(attrs)])
        return found


def _function_slots(function: FuncDef) -> list[Slot]:
    return [(function.type, function)] if isinstance(function.type, CallableType) else []


def _decorator_slots(decorator: Decorator) -> list[Slot]:
    slots = _function_slots(decorator.func)
    decorated = decorator.var.type
    if isinstance(decorated, ProperType) and isinstance(decorated, CallableType):
        slots.append((decorated, decorator.func))
    return slots


def _written_links(node: SymbolNode, modules: dict[str, MypyFile]) -> list[str] | None:
    """Each slot's link as the checker left it, written down; None if one cannot be found again."""
    refs = []
    for signature, loaded in _slots(node):
        ref = _reference(signature.definition, loaded, modules)
        if ref is None:
            return None
        refs.append(ref)
    return refs


def _reference(definition: SymbolNode | None, loaded: SymbolNode | None, modules: dict[str, MypyFile]) -> str | None:
    if _same_function(definition, loaded):
        return SAME
    if definition is None:
        return NONE
    kind = _KIND_OF.get(type(definition))
    if kind is None:
        return None
    candidates = [f"{kind}:{definition.fullname}"]
    found = lookup_fully_qualified(definition.fullname, modules)
    if found is not None and isinstance(found.node, OverloadedFuncDef):
        candidates += [f"{candidates[0]}#{index}" for index in range(len(found.node.items))]
        candidates.append(f"{candidates[0]}#{IMPLEMENTATION}")
    for ref in candidates:
        if _resolve(ref, modules) is definition:
            return ref
    return None


def _same_function(one: SymbolNode | None, other: SymbolNode | None) -> bool:
    """Whether two links read the same: every reader of a link takes a decorated definition's function."""
    if isinstance(one, Decorator):
        one = one.func
    if isinstance(other, Decorator):
        other = other.func
    return one is other


def _resolve(ref: str, modules: dict[str, MypyFile]) -> SymbolNode | None:
    """The definition a written link names, in this process."""
    kind, _, name = ref.partition(":")
    name, _, index = name.partition("#")
    found = lookup_fully_qualified(name, modules)
    node = found.node if found is not None else None
    if index:
        if not isinstance(node, OverloadedFuncDef):
            return None
        if index == IMPLEMENTATION:
            node = node.impl
        elif int(index) < len(node.items):
            node = node.items[int(index)]
        else:
            return None
    if kind == "f" and isinstance(node, Decorator):
        node = node.func
    return node if node is not None and _KIND_OF.get(type(node)) == kind else None
