"""Orders the cache does not keep: written down where a module is checked, put back where it is loaded.

The cache stores a class's names and a TypedDict type's keys sorted.  In
memory they keep the order of the source, and messages show that order: an
enum's members wherever the engine expands the enum into its literals
(`Literal[Color.RED, Color.BLUE]`, narrowing and `match`), a TypedDict's
keys in key lists and spelled-out types (`expected one of ("zeta",
"alpha")`, `TypedDict({'zeta': int, 'alpha': str})`).  `mypy -n 0` has every
module it checks in memory; at `-n N` an importer checked in another process
loads that module from the cache, sorted.

So the process that checks a module writes down the orders the cache loses
(`recorded`), the coordinator hands them to every process that may load the
module (`StoredOrders`), and that process puts them back on the loaded
symbols (`restore`) before it checks anything that uses them.  A module not
checked in this run has no record: `mypy -n 0` loads it from the cache too,
sorted.

What is recorded, for the symbols a module defines: each enum whose members
are out of sorted order (all the class's names, in order); each TypedDict
class whose keys are (its keys); each symbol whose stored type holds a
TypedDict type itself, not a reference to its class (a variable set from a
call, a function taking `**kwargs: Unpack[...]`): the keys of every
TypedDict type in it, in the order of a walk that does not depend on them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from mypy.lookup import lookup_fully_qualified
from mypy.nodes import (
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
from mypy.nodes import TypeAlias as TypeAliasNode
from mypy.types import CallableType, Instance, Overloaded, Type, TypedDictType

from mypy_split import memory_form
from mypy_split.header_values import OrderRecord
from mypy_split.printed_signatures import Lacked

# The kinds of record: an enum's names, a TypedDict class's keys, the keys of
# the TypedDict types in a symbol's types.
NAMES = "names"
KEYS = "keys"
TYPES = "types"

# A record (header_values.OrderRecord) is (kind, the symbol's full name,
# orders): one order for NAMES and KEYS, one per TypedDict type for TYPES.


def recorded(tree: MypyFile, own: list[SymbolNode], modules: dict[str, MypyFile]) -> tuple[list[OrderRecord], bool]:
    """The orders of this checked module's symbols (`own`, from `own_nodes`) that its cache entry will not keep.

    With them, what `memory_form.py` writes down: the argument lists and
    definition links the cache does not keep either; and whether those
    records hold all that the cache loses (`memory_form.recorded`).
    """
    records, restorable = memory_form.recorded(tree, own, modules)
    for node in own:
        if isinstance(node, TypeInfo):
            if node.is_enum and _unsorted(node.enum_members):
                records.append((NAMES, node.fullname, [list(node.names)]))
            typeddict = node.typeddict_type
            if typeddict is not None and _unsorted(typeddict.items):
                records.append((KEYS, node.fullname, [list(typeddict.items)]))
            continue
        types = _stored_types(node)
        if not types:
            continue
        found = _typeddicts(types)
        if any(_unsorted(typeddict.items) for typeddict in found):
            records.append((TYPES, node.fullname, [list(typeddict.items) for typeddict in found]))
    return records, restorable


def restore(
    tree: MypyFile, records: Iterable[OrderRecord], modules: dict[str, MypyFile], argument_lists: bool = True
) -> None:
    """Put the records back on a module loaded from the cache (a no-op where they hold).

    Each record's symbol is looked up by its name, so that the symbols no
    record names stay unread (the loader reads them from their bytes when
    first used).  Without `argument_lists` the `MODULE` record is left for
    later (`StoredOrders.restore_read_functions`).
    """
    for kind, fullname, orders in records:
        if kind == memory_form.MODULE:
            if argument_lists:
                memory_form.restore_module(tree)
            continue
        found = lookup_fully_qualified(fullname, modules)
        node = found.node if found is not None else None
        if node is None:
            continue
        if kind == memory_form.DEFINITIONS:
            memory_form.restore_links(node, orders, modules)
        elif isinstance(node, TypeInfo) and kind == NAMES:
            _reorder_table(node.names, orders[0])
        elif isinstance(node, TypeInfo) and kind == KEYS and node.typeddict_type is not None:
            _reorder_keys(node.typeddict_type, orders[0])
            # Annotations naming the class expand through its alias, which holds a copy.
            alias = node.special_alias
            if alias is not None and isinstance(alias.target, TypedDictType):
                _reorder_keys(alias.target, orders[0])
        elif kind == TYPES:
            found_types = _typeddicts(_stored_types(node))
            if len(found_types) == len(orders):
                for typeddict, order in zip(found_types, orders):
                    _reorder_keys(typeddict, order)


class StoredOrders:
    """The records of the modules checked in this run, and which went to which process.

    The coordinator keeps every record and sends each process those it was
    not sent yet with its next task; a worker keeps what it is sent and puts
    a module's records back once, when it finds the module loaded (a process
    loads a module from the cache once: later tasks find it in memory).

    With `lazy_argument_lists` (workers), a loaded module's functions get
    their argument lists back only once read, when asked
    (`restore_read_functions`): putting them back at once would read every
    function of every loaded module, some 20 MiB per worker on the mypy
    self-check, for lists that only messages printing a signature read.
    """

    def __init__(self, lazy_argument_lists: bool = False) -> None:
        self.by_module: dict[str, list[OrderRecord]] = {}
        self.lazy_argument_lists = lazy_argument_lists
        # Loaded modules whose functions' argument lists are put back when asked,
        # with the entries of their functions not read yet (None: not listed yet).
        self._lists_later: dict[str, list[SymbolTableNode] | None] = {}
        # Modules in the order their records came (again, if they changed), and
        # how far along it each process was sent.
        self._arrivals: list[str] = []
        self._sent_up_to: dict[object, int] = {}
        # Modules whose records are not put back yet (most are not loaded here
        # yet): each task looks at these only, not at every recorded module.
        self._pending: dict[str, None] = {}

    def add(self, records: Mapping[str, list[OrderRecord]]) -> None:
        for module_id, module_records in records.items():
            if module_records:
                # A module checked again (after a fault) may come with new records.
                self.by_module[module_id] = list(module_records)
                self._arrivals.append(module_id)
                self._pending[module_id] = None

    def unsent(self, process: object) -> dict[str, list[OrderRecord]]:
        """The records `process` (any key standing for one process) was not sent yet; now counted as sent."""
        start = self._sent_up_to.get(process, 0)
        self._sent_up_to[process] = len(self._arrivals)
        return {module_id: self.by_module[module_id] for module_id in self._arrivals[start:]}

    def restore_loaded(self, modules: dict[str, MypyFile]) -> None:
        """Put back the records of every module loaded here now and not yet restored (the engine's modules by name)."""
        loaded = [module_id for module_id in self._pending if modules.get(module_id) is not None]
        for module_id in loaded:
            records = self.by_module[module_id]
            restore(modules[module_id], records, modules, argument_lists=not self.lazy_argument_lists)
            if self.lazy_argument_lists and any(kind == memory_form.MODULE for kind, _, _ in records):
                self._lists_later[module_id] = None
            del self._pending[module_id]

    def restore_read_functions(self, modules: dict[str, MypyFile]) -> list[Lacked]:
        """Put back the argument lists of the functions read so far in the loaded modules left for later;
        those that lacked one (`memory_form.restore_read_functions`).

        Each module's function entries are listed the first time, and only
        those not read yet are looked at again: a late task would otherwise
        walk every table of every loaded module (90 ms on the self-check).
        """
        lacked: list[Lacked] = []
        for module_id, entries in self._lists_later.items():
            if entries is None:
                tree = modules.get(module_id)
                entries = [] if tree is None else memory_form.function_entries(tree)
            found, self._lists_later[module_id] = memory_form.restore_read_functions(entries)
            lacked += found
        return lacked


def _unsorted(names: Iterable[str]) -> bool:
    listed = list(names)
    return listed != sorted(listed)


def _reorder_table(table: SymbolTable, order: list[str]) -> None:
    if list(table) == order:
        return
    entries = dict(table)
    table.clear()
    for name in order:
        if name in entries:
            table[name] = entries.pop(name)
    table.update(entries)


def _reorder_keys(typeddict: TypedDictType, order: list[str]) -> None:
    """Put the keys in this order, if it holds the same keys."""
    items = typeddict.items
    if list(items) != order and set(items) == set(order):
        typeddict.items = {key: items[key] for key in order}


def own_nodes(tree: MypyFile) -> Iterator[SymbolNode]:
    """The symbols the module defines, those of its classes included (imported names belong elsewhere)."""
    seen: set[int] = set()
    tables: list[tuple[SymbolTable, str]] = [(tree.names, tree.fullname + ".")]
    while tables:
        names, prefix = tables.pop()
        cut = len(prefix)
        for symbol in names.values():
            node = symbol.node
            if node is None or isinstance(node, MypyFile):
                continue
            name = node.fullname
            if not name.startswith(prefix) or "." in name[cut:] or id(node) in seen:
                continue
            seen.add(id(node))
            yield node
            if isinstance(node, TypeInfo):
                tables.append((node.names, name + "."))


def _stored_types(node: SymbolNode) -> list[Type]:
    """The types the cache stores for a symbol, where a TypedDict type itself can be.

    An annotation naming a TypedDict class is stored as a reference to the
    class (whose keys are its own record), but inferred types hold the
    TypedDict type, and so does a signature's `**kwargs: Unpack[...]`.
    """
    if isinstance(node, Var):
        return [node.type] if node.type is not None else []
    if isinstance(node, Decorator):
        decorated = [node.var.type] if node.var.type is not None else []
        return decorated + _unpacked_keywords(node.func.type)
    if isinstance(node, (FuncDef, OverloadedFuncDef)):
        return _unpacked_keywords(node.type)
    if isinstance(node, TypeAliasNode):
        return [node.target]
    return []


def _unpacked_keywords(signature: Type | None) -> list[Type]:
    """Where a declared signature holds a TypedDict type: `**kwargs: Unpack[...]` (other annotations are references)."""
    if isinstance(signature, CallableType):
        items = [signature]
    elif isinstance(signature, Overloaded):
        items = signature.items
    else:
        return []
    # The engine keeps such a signature's TypedDict type as its last argument's type.
    return [item.arg_types[-1] for item in items if item.unpack_kwargs and item.arg_types]


def _typeddicts(types: Iterable[Type]) -> list[TypedDictType]:
    found: list[TypedDictType] = []
    for value in types:
        # Most inferred types are plain instances: no walk for them.
        if isinstance(value, Instance) and not value.args:
            continue
        found.extend(value.accept(_TypedDictsFound()))
    return found


class _TypedDictsFound(memory_form.Collected[TypedDictType]):
    """The TypedDict types in a type, in a walk that visits their items in sorted key order."""

    def visit_typeddict_type(self, t: TypedDictType, /) -> list[TypedDictType]:
        inner = self.query_types([t.items[key] for key in sorted(t.items)])
        return [t, *inner]
