#!/usr/bin/env python3
"""A grid of constructs and uses, swept for cache-versus-memory differences.

`cache_memory_sweep.py` looks for the class in mypy's own cases, which rarely
use a dependency wrongly.  This script writes its own: for each construct a
module `base` can define (functions, overloads, decorated and generated
methods, aliases, partial objects, dataclasses, named tuples, enums,
TypedDicts, ...), a `main` that uses it in every way that makes mypy print
something about it (bad calls, calls through the class, copies into a class
body, protocol conflicts, overrides, assignments, narrowing, bad keys,
`reveal_type`).  Each pair is swept as a
mypy case (`cache_memory_sweep.sweep_case`): mypy on a cold cache against
mypy after only `main` changed, graded by `sensitive.py`'s level for `base`
(and, where it flags nothing, by mypy-split's answer).

    python misc/cache_memory_grid.py --jobs 2 --show-diffs
    python misc/cache_memory_grid.py --constructs 'dataclass*'
    python misc/cache_memory_grid.py --jobs 2 --flag=--strict
    python misc/cache_memory_grid.py --jobs 2 --exact 2 --exact 3
    python misc/cache_memory_grid.py --jobs 2 --default 2 --default 3

Exit status 1 if a difference comes from a `base` that `sensitive.py` does
not flag and mypy-split, loading `base` from the cache where `main` is
checked, still prints the cache form (`NONE`, see cache_memory_sweep.py): a
member of the class that mypy-split misses.
With `--exact N`, `mypy-split -n N` in exact mode also checks every pair,
with workers forced, and must print mypy's cold answer (exit status 1 for a
pair where it does not).  `--default N` does the
same in the default mode, where the worker checking `main` loads `base`
from the cache and puts back what the cache lost (`memory_form.py`).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import fnmatch
import sys
import tempfile
import time
from pathlib import Path

from cache_memory_sweep import FORCED_WORKERS, report, split_differs, sweep_all
from conformance import DEFAULT_CACHE

from mypy_split.affinity import AFFINITY_VARIABLE
from mypy_split.test.casefile import Case, Step
from mypy_split.test.mypy_corpus import CorpusCase, WarmCache, warm_cache_factory

HEADER = "from __future__ import annotations\nimport functools\nfrom typing import *\n"

# Callables: what `base` defines under the name `thing`.
CALLABLES = {
    "function": "def thing(a: int, b: str = '') -> int: return a\n",
    "function_self_named": "def thing(self: Any, a: int) -> int: return a\n",
    "overloaded_function": (
        "@overload\ndef thing(a: int) -> int: ...\n@overload\ndef thing(a: str) -> str: ...\n"
        "def thing(a: Any) -> Any: return a\n"
    ),
    "decorated_function": (
        "P = ParamSpec('P')\nR = TypeVar('R')\n"
        "def deco(f: Callable[P, R]) -> Callable[P, R]: return f\n"
        "@deco\ndef thing(a: int, b: str = '') -> int: return a\n"
    ),
    "decorator_changing_signature": (
        "def deco(f: Callable[..., int]) -> Callable[[int, int], int]: return lambda x, y: x\n"
        "@deco\ndef thing(a: int) -> int: return a\n"
    ),
    "alias_of_function": "def target(a: int, b: str = '') -> int: return a\nthing = target\n",
    "partial": "def target(a: int, b: str = '') -> int: return a\nthing = functools.partial(target, 1)\n",
    "callable_variable": "thing: Callable[[int, str], int] = lambda a, b: a\n",
    "lambda_variable": "thing = lambda a, b='': a\n",
    "generic_function": "T = TypeVar('T')\ndef thing(a: T, b: list[T]) -> T: return a\n",
    "lru_cache_function": "@functools.lru_cache\ndef thing(a: int) -> int: return a\n",
    "class_constructor": "class thing:\n    def __init__(self, a: int, b: str = '') -> None: ...\n",
    "dataclass_constructor": (
        "from dataclasses import dataclass\n@dataclass\nclass thing:\n    a: int\n    b: str = ''\n"
    ),
    "namedtuple_constructor": "class thing(NamedTuple):\n    a: int\n    b: str = ''\n",
    "functional_namedtuple": "thing = NamedTuple('thing', [('a', int), ('b', str)])\n",
    "typeddict_constructor": "class thing(TypedDict):\n    a: int\n    b: str\n",
    "newtype_constructor": "thing = NewType('thing', int)\n",
    "enum_class": "import enum\nclass thing(enum.Enum):\n    a = 1\n    b = 2\n",
    "keyword_only_function": "def thing(a: int, *, b: str = '') -> int: return a\n",
    "positional_only_function": "def thing(a: int, /, b: str = '') -> int: return a\n",
    "star_args_function": "def thing(*args: int, **kwargs: str) -> int: return 1\n",
    "async_function": "async def thing(a: int, b: str = '') -> int: return a\n",
    "generator_function": "def thing(a: int, b: str = '') -> Iterator[int]: yield a\n",
    "contextmanager_function": (
        "import contextlib\n@contextlib.contextmanager\ndef thing(a: int, b: str = '') -> Iterator[int]: yield a\n"
    ),
    "wraps_decorated_function": (
        "P = ParamSpec('P')\nR = TypeVar('R')\n"
        "def deco(f: Callable[P, R]) -> Callable[P, R]:\n"
        "    @functools.wraps(f)\n"
        "    def inner(*args: P.args, **kwargs: P.kwargs) -> R: return f(*args, **kwargs)\n"
        "    return inner\n"
        "@deco\ndef thing(a: int, b: str = '') -> int: return a\n"
    ),
    "callable_instance": (
        "class Caller:\n    def __call__(self, a: int, b: str = '') -> int: return a\nthing = Caller()\n"
    ),
    "class_with_new": "class thing:\n    def __new__(cls, a: int, b: str = '') -> thing: return object.__new__(cls)\n",
    "functional_typeddict": "thing = TypedDict('thing', {'a': int, 'b': str})\n",
    "generic_class_constructor": (
        "T = TypeVar('T')\nclass thing(Generic[T]):\n    def __init__(self, a: T, b: str = '') -> None: ...\n"
    ),
    "final_class_constructor": "@final\nclass thing:\n    def __init__(self, a: int) -> None: ...\n",
}

# Class members: what `base` defines as `Thing.member`.
MEMBERS = {
    "method": "    def member(self, a: int, b: str = '') -> int: return a\n",
    "static_method": "    @staticmethod\n    def member(a: int, b: str = '') -> int: return a\n",
    "class_method": "    @classmethod\n    def member(cls, a: int, b: str = '') -> int: return a\n",
    "property": "    @property\n    def member(self) -> int: return 1\n",
    "property_with_setter": (
        "    @property\n    def member(self) -> int: return 1\n"
        "    @member.setter\n    def member(self, value: int) -> None: ...\n"
    ),
    "overloaded_method": (
        "    @overload\n    def member(self, a: int) -> int: ...\n"
        "    @overload\n    def member(self, a: str) -> str: ...\n"
        "    def member(self, a: Any) -> Any: return a\n"
    ),
    "decorated_method": (
        "    @staticmethod\n    def _deco(f: Callable[P, R]) -> Callable[P, R]: return f\n"
        "    @_deco\n    def member(self, a: int, b: str = '') -> int: return a\n"
    ),
    "method_alias": "    def target(self, a: int, b: str = '') -> int: return a\n    member = target\n",
    "static_alias": "    @staticmethod\n    def target(a: int) -> int: return a\n    member = target\n",
    "function_attribute": "    member = staticmethod(len)\n",
    "callable_attribute": "    member: Callable[[int], int]\n",
    "cached_property": "    @functools.cached_property\n    def member(self) -> int: return 1\n",
    "abstract_method": (
        "    @abc.abstractmethod\n    def member(self, a: int) -> int: ...\n"
    ),
    "generic_method": "    def member(self, a: T, b: list[T]) -> T: return a\n",
    "keyword_only_method": "    def member(self, a: int, *, b: str = '') -> int: return a\n",
    "positional_only_method": "    def member(self, a: int, /) -> int: return a\n",
    "star_args_method": "    def member(self, *args: int, **kwargs: str) -> int: return 1\n",
    "keyword_only_static_method": "    @staticmethod\n    def member(a: int, *, b: str = '') -> int: return a\n",
    "star_args_class_method": "    @classmethod\n    def member(cls, *args: int, **kwargs: str) -> int: return 1\n",
    "async_method": "    async def member(self, a: int) -> int: return a\n",
    "final_method": "    @final\n    def member(self, a: int) -> int: return a\n",
    "overloaded_class_method": (
        "    @overload\n    @classmethod\n    def member(cls, a: int) -> int: ...\n"
        "    @overload\n    @classmethod\n    def member(cls, a: str) -> str: ...\n"
        "    @classmethod\n    def member(cls, a: Any) -> Any: return a\n"
    ),
    "overloaded_static_method": (
        "    @overload\n    @staticmethod\n    def member(a: int) -> int: ...\n"
        "    @overload\n    @staticmethod\n    def member(a: str) -> str: ...\n"
        "    @staticmethod\n    def member(a: Any) -> Any: return a\n"
    ),
    "descriptor": (
        "    class _Desc:\n"
        "        def __get__(self, obj: object, owner: Any) -> Callable[[int], int]: return lambda a: a\n"
        "    member = _Desc()\n"
    ),
    "class_var_callable": "    member: ClassVar[Callable[[int], int]] = staticmethod(lambda a: a)\n",
    "partial_attribute": "    member = functools.partial(int, base=10)\n",
    "nested_class": "    class member:\n        def __init__(self, a: int) -> None: ...\n",
}
MEMBER_PRELUDE = "import abc\nP = ParamSpec('P')\nR = TypeVar('R')\nT = TypeVar('T')\n"
CLASS_KINDS = {
    "class": "class Thing:\n",
    "dataclass": "from dataclasses import dataclass\n@dataclass(order=True)\nclass Thing:\n    x: int = 0\n",
    "namedtuple": "class Thing(NamedTuple):\n    x: int = 0\n",
    "generic_class": "class Thing(Generic[T]):\n",
    "protocol": "class Thing(Protocol):\n",
}

CALLABLE_USES = """\
from base import thing
thing(1, 2, 3, 4, 5)
thing(zzz=1)
thing()
thing(b'x')
reveal_type(thing)
v1: int = thing
class Holder:
    m = thing
Holder().m(1, 2, 3, 4, 5)
Holder().m(zzz=1)
Holder.m(1, 2, 3, 4, 5)
reveal_type(Holder().m)
reveal_type(Holder.m)
class Wants(Protocol):
    def m(self, zz: bytes) -> bytes: ...
def take(w: Wants) -> None: ...
take(Holder())
thing._replace(zzz=1)
thing(1) < thing(1)
thing(1)._asdict(1)
f2: Callable[[str], str] = thing
functools.partial(thing, zzz=1)
list(map(thing, [b'x']))
sorted([b'x'], key=thing)
class Sub(thing):
    def __init__(self) -> None:
        super().__init__(zzz=1)
"""

MEMBER_USES = """\
from base import Thing
t = Thing()
t.member(1, 2, 3, 4, 5)
t.member(zzz=1)
t.member(b'x')
Thing.member(1, 2, 3, 4, 5)
Thing.member(t, zzz=1)
Thing.member(t, b'x')
reveal_type(t.member)
reveal_type(Thing.member)
v1: int = t.member
v2: int = Thing.member
t.member = 'x'
class Holder:
    m = Thing.member
Holder().m(1, 2, 3, 4, 5)
reveal_type(Holder().m)
class Sub(Thing):
    def member(self, zz: bytes) -> bytes: ...
class Wants(Protocol):
    def member(self, zz: bytes) -> bytes: ...
def take(w: Wants) -> None: ...
take(t)
t < 1
t._replace(zzz=1)
type(t).member(1, 2, 3, 4, 5)
def through_type(k: type[Thing]) -> None:
    k.member(zzz=1)
class Sub2(Thing):
    def other(self) -> None:
        super().member(zzz=1)
m2: Callable[[int], str] = t.member
m3: Callable[[int], str] = Thing.member
functools.partial(t.member, zzz=1)
functools.partial(Thing.member, zzz=1)
"""


# Types whose printed form lists names in their stored order: the cache
# stores a class's names (an enum's members) and a TypedDict type's keys
# sorted, so `base` defines them out of sorted order; `Literal` items keep
# theirs, and sorted members read the same both ways.
VALUES = {
    "enum_members": "import enum\nclass Thing(enum.Enum):\n    b = 1\n    c = 2\n    a = 3\nthing = Thing.b\n",
    "flag_members": "import enum\nclass Thing(enum.Flag):\n    b = 1\n    c = 2\n    a = 4\nthing = Thing.b\n",
    "sorted_enum_members": "import enum\nclass Thing(enum.Enum):\n    a = 1\n    b = 2\n    c = 3\nthing = Thing.b\n",
    "typeddict_keys": (
        "class Thing(TypedDict, total=False):\n    b: int\n    c: str\n    a: bytes\nthing = Thing(b=1)\n"
    ),
    "functional_typeddict_keys": (
        "Thing = TypedDict('Thing', {'b': int, 'c': str, 'a': bytes})\nthing = Thing(b=1, c='', a=b'')\n"
    ),
    "literal_alias": "Thing = Literal['b', 'c', 'a']\nthing: Thing = 'b'\n",
}

VALUE_USES = """\
from base import Thing, thing
def use(e: Thing, k: str) -> None:
    if e is Thing.b:
        return
    reveal_type(e)
    x: int = e
    e[k]
    e.update(1)
    e['zz']
    match e:
        case Thing.c:
            pass
        case _:
            reveal_type(e)
    z: Thing = {}
    w: Thing = {'zz': 1}
reveal_type(thing)
y: int = thing
reveal_type(Thing)
"""


def grid() -> dict[str, tuple[str, str]]:
    """Every (base, main) pair, by name."""
    pairs = {f"callable/{name}": (HEADER + text, HEADER + CALLABLE_USES) for name, text in CALLABLES.items()}
    pairs.update({f"value/{name}": (HEADER + text, HEADER + VALUE_USES) for name, text in VALUES.items()})
    for kind, opening in CLASS_KINDS.items():
        for name, member in MEMBERS.items():
            base = HEADER + MEMBER_PRELUDE + opening + member
            pairs[f"{kind}/{name}"] = (base, HEADER + MEMBER_USES)
    return pairs


def as_case(name: str, base: str, main: str, flags: list[str] | None = None) -> CorpusCase:
    writes = {"tmp/main.py": main, "tmp/base.py": base}
    step = Step(flags=list(flags or []), targets=["tmp/main.py"], writes=writes)
    return CorpusCase(Case(name=name, source="grid", line=0, steps=[step]))


MODES = {"exact": {**FORCED_WORKERS, AFFINITY_VARIABLE: "1"}, "default": FORCED_WORKERS}


def check_mode(mode: str, cases: list[CorpusCase], warm: WarmCache, jobs: int, counts: list[str]) -> int:
    """Print the pairs where the mode is not mypy's cold answer; 1 if there is one."""
    env = MODES[mode]
    with tempfile.TemporaryDirectory(prefix=f"mypy-grid-{mode}-") as workroot:
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            differs = list(pool.map(lambda case: split_differs(case, warm, Path(workroot), counts, env), cases))
    wrong = [(case.case.name, at) for case, at in zip(cases, differs) if at]
    right = len(cases) - len(wrong)
    print(f"\n{mode} mode at -n {', '.join(counts)}: {right} of {len(cases)} pairs give mypy's cold answer")
    for name, at in wrong:
        print(f"  not at -n {', '.join(at)}: {name}")
    return 1 if wrong else 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--constructs", action="append", metavar="GLOB", help="grid entries to keep")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--show-diffs", action="store_true")
    parser.add_argument("--flag", action="append", default=[], metavar="FLAG", help="a mypy flag for every pair")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE, help="where warm caches are kept")
    parser.add_argument("--exact", action="append", default=[], metavar="N", help="check exact mode at -n N too")
    parser.add_argument("--default", action="append", default=[], metavar="N", help="check the default mode at -n N too")
    args = parser.parse_args(argv)
    pairs = {
        name: pair
        for name, pair in grid().items()
        if not args.constructs or any(fnmatch.fnmatchcase(name, pattern) for pattern in args.constructs)
    }
    cases = [as_case(name, base, main, args.flag) for name, (base, main) in pairs.items()]
    warm = warm_cache_factory(args.cache_dir)
    print(f"{len(cases)} grid entries, {args.jobs} jobs", flush=True)
    start = time.perf_counter()
    status = report(sweep_all(cases, warm, args.jobs), len(cases), args.show_diffs)
    for mode, counts in (("exact", args.exact), ("default", args.default)):
        if counts:
            status = max(status, check_mode(mode, cases, warm, args.jobs, counts))
    print(f"\n{len(cases)} entries in {time.perf_counter() - start:.0f}s")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
