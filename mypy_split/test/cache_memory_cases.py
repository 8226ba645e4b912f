"""The cache-versus-memory cases: one table, and mypy's two answers to a case.

The engine answers some questions about a dependency differently when it was
checked in the same process (in memory) and when it was loaded from the
cache.  Each case is a project of a module `base`, free of errors, and a
module `main` that imports it, with the text mypy prints in each form:
`cold` is part of `mypy main.py`'s answer on a cold cache (both modules
checked in one process), and `warm` replaces it once only `main.py` changed
since that run (so `base` comes from the cache).

`test_cache_vs_memory.py` checks that mypy-split prints the cold form at any
-n, in both modes, and `test_sweep.py` that the sweep finds and grades each
case.  `mypy_forms` runs mypy on a case in both forms and checks the texts.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from mypy_split.test.conftest import WarmCache
from mypy_split.test.differential import MYPY, RunResult, run_tool


@dataclass(frozen=True)
class Case:
    """A project of `base` and `main`, and what differs between mypy's two answers."""

    name: str
    base: str
    main: str
    # In mypy's answer with `base` checked in this process.
    cold: str
    # What replaces `cold` (its first occurrence) with `base` from the cache.
    warm: str
    # Flagged `Sensitivity.BINDING` (types can differ, not only messages):
    # the default mode keeps `base` in memory too.
    binding: bool = False
    # Exact mode's cache is also checked by mypy afterwards (a few cases
    # suffice: checking again in memory is the same code for every case).
    cross_check: bool = False


@dataclass(frozen=True)
class MypyForms:
    """mypy's answer to a case on a cold cache, and after an edit to `main.py` alone."""

    project: Path
    cold: RunResult
    warm: RunResult


def note_from_cache(error: str, note: str) -> tuple[str, str]:
    """The forms of an error that gains `note` when `base` comes from the cache."""
    return error, error + note


def note_in_memory(error: str, note: str) -> tuple[str, str]:
    """The forms of an error that loses `note` when `base` comes from the cache."""
    return error + note, error


def mypy_forms(tmp_path: Path, warm_cache: WarmCache, case: Case) -> MypyForms:
    """Write the case's project under `tmp_path` and check that mypy prints both forms.

    The cache left in `tmp_path / "mypy"` is the standard library's and the
    project's; the project stays as written (the edit is made on a copy).
    """
    project = tmp_path / "project"
    project.mkdir()
    (project / "base.py").write_text(case.base)
    (project / "main.py").write_text(case.main)
    mypy_cache = tmp_path / "mypy"
    shutil.copytree(warm_cache([]), mypy_cache)
    cold = run_tool(MYPY, ["main.py"], project, mypy_cache, {})
    assert case.cold in cold.stdout, cold.describe()

    # mypy on the same project after an edit to main.py alone (a trailing
    # comment, so no line moves): base comes from the cache.
    edited = tmp_path / "edited"
    shutil.copytree(project, edited)
    with open(edited / "main.py", "a") as f:
        f.write("# edited\n")
    warm = run_tool(MYPY, ["main.py"], edited, mypy_cache, {})
    assert warm.stdout == cold.stdout.replace(case.cold, case.warm, 1), warm.describe()
    return MypyForms(project, cold, warm)


DATACLASS = '''\
from dataclasses import dataclass

@dataclass
class User:
    name: str
'''
KW_ONLY_DATACLASS = '''\
from dataclasses import dataclass

@dataclass(kw_only=True)
class Point:
    x: int
'''
NAMEDTUPLE = '''\
from typing import NamedTuple

class Point(NamedTuple):
    x: int
'''
OVERLOADED = '''\
from typing import Any, overload

class Conv:
    @overload
    def to(self, x: int) -> int: ...
    @overload
    def to(self, x: str) -> str: ...
    def to(self, x: Any) -> Any: return x
'''
PAIRWISE = '''\
from typing import Any, Callable

def pairwise(fn: Callable[[Any, int], int]) -> Callable[[Any, int, int], int]:
    raise NotImplementedError

class Calc:
    @pairwise
    def add(self, x: int) -> int: return x
'''

TYPEDDICT = '''\
from typing import TypedDict

class Options(TypedDict, total=False):
    zeta: int
    alpha: str
    mid: bytes

def make() -> Options:
    return {}
'''

CONSTRUCTOR_IN_PROTOCOL_CONFLICT = (
    "from typing import Protocol\n"
    "from base import {name}\n"
    "class Makes(Protocol):\n"
    "    def m(self, zz: bytes) -> bytes: ...\n"
    "class Holder:\n"
    "    m = {name}\n"
    "def take(w: Makes) -> None: ...\n"
    "take(Holder())\n"
)

CASES: tuple[Case, ...] = (
    # -- Methods that plugins or semantic analysis generate (dataclass,
    # NamedTuple, NewType): their type links back to the generated definition
    # only once loaded from the cache, so the note naming the defining module
    # appears warm only.
    Case(
        "dataclass_init_defined_in_note",
        DATACLASS,
        'from base import User\n\nUser(nam="x")\n',
        *note_from_cache(
            'main.py:3: error: Unexpected keyword argument "nam" for "User";'
            ' did you mean "name"?  [call-arg]\n',
            'main.py:3: note: "User" defined in "base"\n',
        ),
        cross_check=True,
    ),
    Case(
        "dataclass_too_many_positional_defined_in_note",
        KW_ONLY_DATACLASS,
        "from base import Point\n\nPoint(1)\n",
        *note_from_cache(
            'main.py:3: error: Too many positional arguments for "Point"  [call-arg]\n',
            'main.py:3: note: "Point" defined in "base"\n',
        ),
    ),
    Case(
        "dataclass_missing_named_defined_in_note",
        KW_ONLY_DATACLASS,
        "from base import Point\n\nPoint()\n",
        *note_from_cache(
            'main.py:3: error: Missing named argument "x" for "Point"  [call-arg]\n',
            'main.py:3: note: "Point" defined in "base"\n',
        ),
    ),
    Case(
        "namedtuple_new_defined_in_note",
        NAMEDTUPLE,
        "from base import Point\n\nPoint(y=1)\n",
        *note_from_cache(
            'main.py:3: error: Unexpected keyword argument "y" for "Point"  [call-arg]\n',
            'main.py:3: note: "Point" defined in "base"\n',
        ),
    ),
    Case(
        "newtype_init_defined_in_note",
        'from typing import NewType\n\nUserId = NewType("UserId", int)\n',
        "from base import UserId\n\nUserId(item=1, x=2)\n",
        *note_from_cache(
            'main.py:3: error: Unexpected keyword argument "x" for "UserId"  [call-arg]\n',
            'main.py:3: note: "UserId" defined in "base"\n',
        ),
    ),
    Case(
        "namedtuple_replace_defined_in_note",
        NAMEDTUPLE,
        "from base import Point\n\nPoint(1)._replace(y=2)\n",
        *note_from_cache(
            'main.py:3: error: Unexpected keyword argument "y" for "_replace" of "Point"'
            "  [call-arg]\n",
            'main.py:3: note: "_replace" defined in "base"\n',
        ),
    ),
    # The generated methods name their first argument `_self`.
    Case(
        "namedtuple_special_first_argument_note",
        NAMEDTUPLE,
        "from base import Point\n\nPoint(1)._asdict(1)\n",
        *note_from_cache(
            'main.py:3: error: Too many arguments for "_asdict" of "Point"  [call-arg]\n',
            "main.py:3: note: Looks like the first special argument in a method is not named"
            ' "self", "cls", or "mcs", maybe it is missing?\n',
        ),
    ),
    Case(
        "namedtuple_method_in_protocol_conflict",
        NAMEDTUPLE,
        "from typing import Protocol\n"
        "from base import Point\n"
        "class Dumps(Protocol):\n"
        "    def _asdict(self, deep: bool) -> dict[str, object]: ...\n"
        "def dump(x: Dumps) -> None: ...\n"
        "\n"
        "dump(Point(1))\n",
        "main.py:7: note:         def _asdict() -> dict[str, Any]\n",
        "main.py:7: note:         def _asdict(_self) -> dict[str, Any]\n",
    ),
    Case(
        "namedtuple_method_in_override_note",
        NAMEDTUPLE,
        "from base import Point\n"
        "\n"
        "class Point3(Point):\n"
        "    def _asdict(self, deep: bool) -> dict[str, object]:\n"
        "        return {}\n",
        "main.py:4: note:          def _asdict() -> dict[str, Any]\n",
        "main.py:4: note:          def _asdict(_self) -> dict[str, Any]\n",
    ),
    # A class or NewType copied into a class body and shown in a protocol
    # conflict: from the cache its constructor is printed under its name
    # (found by misc/cache_memory_grid.py).
    Case(
        "namedtuple_constructor_in_protocol_conflict",
        NAMEDTUPLE,
        CONSTRUCTOR_IN_PROTOCOL_CONFLICT.format(name="Point"),
        "main.py:8: note:         def (x: int) -> Point\n",
        "main.py:8: note:         def __new__(x: int) -> Point\n",
    ),
    Case(
        "newtype_constructor_in_protocol_conflict",
        'from typing import NewType\n\nUserId = NewType("UserId", int)\n',
        CONSTRUCTOR_IN_PROTOCOL_CONFLICT.format(name="UserId"),
        "main.py:8: note:         def (item: int) -> UserId\n",
        "main.py:8: note:         def __init__(item: int) -> UserId\n",
    ),
    # -- Callables stored in variables (aliases, partial objects): the link to
    # the function's definition is not in the cache, so what it gives is lost
    # warm.
    Case(
        "function_alias_defined_in_note",
        "def connect(host: str) -> None: ...\n\nopen_connection = connect\n",
        'from base import open_connection\n\nopen_connection(hots="x")\n',
        *note_in_memory(
            'main.py:3: error: Unexpected keyword argument "hots"  [call-arg]\n',
            'main.py:3: note: Called function defined in "base"\n',
        ),
    ),
    # Found by hand (2026-11-29), missed by the earlier flags: functions held
    # inside a variable's type (a tuple, a dict) lose their links too.
    Case(
        "functions_in_containers_defined_in_note",
        "def connect(host: str) -> None: ...\n\npair = (connect, connect)\nhandlers = {'a': connect}\n",
        'from base import pair, handlers\n\npair[0](prot=1)\nhandlers["a"](prot=2)\n',
        'main.py:3: error: Unexpected keyword argument "prot" for "connect"  [call-arg]\n'
        'main.py:3: note: "connect" defined in "base"\n'
        'main.py:4: error: Unexpected keyword argument "prot" for "connect"  [call-arg]\n'
        'main.py:4: note: "connect" defined in "base"\n',
        'main.py:3: error: Unexpected keyword argument "prot" for "connect"  [call-arg]\n'
        'main.py:4: error: Unexpected keyword argument "prot" for "connect"  [call-arg]\n',
    ),
    Case(
        "partial_defined_in_note",
        "from functools import partial\n"
        "def connect(host: str, port: int) -> None: ...\n"
        'local = partial(connect, "localhost")\n',
        "from base import local\n\nlocal(prot=1)\n",
        *note_in_memory(
            'main.py:3: error: Unexpected keyword argument "prot" for "connect"  [call-arg]\n',
            'main.py:3: note: "connect" defined in "base"\n',
        ),
    ),
    Case(
        "method_alias_in_protocol_conflict",
        "class Greeter:\n"
        "    def greet(self, name: str) -> str: return name\n"
        "    hello = greet\n",
        "from typing import Protocol\n"
        "from base import Greeter\n"
        "class Hello(Protocol):\n"
        "    def hello(self, name: int) -> str: ...\n"
        "def run(x: Hello) -> None: ...\n"
        "\n"
        "run(Greeter())\n",
        "main.py:7: note:         def greet(self, name: str) -> str\n",
        "main.py:7: note:         def (name: str) -> str\n",
    ),
    Case(
        "overload_alias_variants",
        OVERLOADED + "    convert = to\n",
        "from base import Conv\n\nConv().convert(1.0)\n",
        "main.py:3: note:     def to(self, x: int) -> int\n"
        "main.py:3: note:     def to(self, x: str) -> str\n",
        "main.py:3: note:     def (x: int) -> int\nmain.py:3: note:     def (x: str) -> str\n",
    ),
    # In memory the alias's type still links to a staticmethod, so `loader`
    # becomes a static attribute of Config; from the cache it binds `self`.
    # A copy into a class body takes "static" from the function's definition,
    # which only memory has: it binds differently from the cache, but `base`
    # is only `MESSAGES` (see `sensitive.py`: such variables are common, and
    # one is in the builtins cycle).
    Case(
        "staticmethod_alias_as_class_attribute",
        "class Parser:\n"
        "    @staticmethod\n"
        "    def parse(text: str) -> int: return 0\n"
        "parse = Parser.parse\n",
        'from base import parse\nclass Config:\n    loader = parse\n\nConfig().loader("1")\n',
        "Success: no issues found in 1 source file\n",
        'main.py:5: error: Invalid self argument "Config" to attribute function "loader"'
        ' with type "Callable[[str], int]"  [misc]\n'
        "main.py:5: error: Too many arguments  [call-arg]\n"
        "Found 2 errors in 1 file (checked 1 source file)\n",
    ),
    # -- Function definitions loaded from the cache keep no argument list, only
    # the first argument's name, and signatures printed from them repeat or
    # add it.
    Case(
        "overload_variants_called_on_class",
        OVERLOADED,
        "from base import Conv\n\nConv.to(Conv(), 1.0)\n",
        "main.py:3: note:     def to(self: Conv, x: int) -> int\n"
        "main.py:3: note:     def to(self: Conv, x: str) -> str\n",
        "main.py:3: note:     def to(self, self: Conv, x: int) -> int\n"
        "main.py:3: note:     def to(self, self: Conv, x: str) -> str\n",
    ),
    # An instance method with keyword-only or star arguments, whose type
    # errors spell out as `def member(...)`: read through the class, from the
    # cache its first argument's name is put in front again (found by
    # misc/cache_memory_grid.py).
    Case(
        "keyword_only_method_through_the_class",
        "class Thing:\n    def member(self, a: int, *, b: str = '') -> int: return a\n",
        "from base import Thing\nv: int = Thing.member\n",
        'main.py:2: error: Incompatible types in assignment (expression has type'
        ' "def member(self: Thing, a: int, *, b: str = ...) -> int", variable has type "int")  [assignment]\n',
        'main.py:2: error: Incompatible types in assignment (expression has type'
        ' "def member(self, self: Thing, a: int, *, b: str = ...) -> int", variable has type "int")  [assignment]\n',
    ),
    # Found by misc/cache_memory_grid.py: a property with a setter is an
    # overload too, and an overloaded function copied into a class body.
    Case(
        "property_setter_called_on_class",
        "class Box:\n"
        "    @property\n"
        "    def size(self) -> int: return 1\n"
        "    @size.setter\n"
        "    def size(self, value: int) -> None: ...\n",
        "from base import Box\nBox.size(1, 2)\n",
        "main.py:2: note:     def size(self: Box) -> int\n",
        "main.py:2: note:     def size(self, self: Box) -> int\n",
    ),
    Case(
        "overloaded_function_copied_into_class",
        "from typing import Any, overload\n\n"
        "@overload\ndef conv(x: int) -> int: ...\n"
        "@overload\ndef conv(x: str) -> str: ...\n"
        "def conv(x: Any) -> Any: return x\n",
        "from base import conv\nclass Holder:\n    m = conv\nHolder().m(b'x')\n",
        "main.py:4: note:     def conv(x) -> int\nmain.py:4: note:     def conv(x) -> str\n",
        "main.py:4: note:     def conv() -> int\nmain.py:4: note:     def conv() -> str\n",
    ),
    Case(
        "decorated_method_in_protocol_conflict",
        PAIRWISE,
        "from typing import Protocol\n"
        "from base import Calc\n"
        "class Adder(Protocol):\n"
        "    def add(self, x: str) -> int: ...\n"
        "def use(x: Adder) -> None: ...\n"
        "\n"
        "use(Calc())\n",
        "main.py:7: note:         def add(int, int, /) -> int\n",
        "main.py:7: note:         def add(self, int, int, /) -> int\n",
        cross_check=True,
    ),
    Case(
        "decorated_method_in_override_note",
        PAIRWISE,
        "from base import Calc\n"
        "\n"
        "class Calc2(Calc):\n"
        "    def add(self, x: str) -> int: return 0\n",
        "main.py:4: note:          def add(int, int, /) -> int\n",
        "main.py:4: note:          def add(self, int, int, /) -> int\n",
    ),
    # -- Decorators loaded from the cache keep no decorator list, so a method
    # with a decorator looks undecorated: its self argument is neither checked
    # against the instance nor used to infer type variables.
    Case(
        "decorated_method_self_argument_not_checked",
        "from typing import Any, Callable, Protocol, TypeVar\n"
        'R = TypeVar("R")\n'
        "class Named(Protocol):\n"
        "    name: str\n"
        "def needs_name(fn: Callable[[Any, int], R]) -> Callable[[Named, int], R]:\n"
        "    raise NotImplementedError\n"
        "class Widget:\n"
        "    @needs_name\n"
        "    def show(self, x: int) -> int: return x\n",
        "from base import Widget\n\nWidget().show(1)\n",
        'main.py:3: error: Invalid self argument "Widget" to attribute function "show"'
        ' with type "Callable[[Named, int], int]"  [misc]\n'
        "Found 1 error in 1 file (checked 1 source file)\n",
        "Success: no issues found in 1 source file\n",
        binding=True,
    ),
    Case(
        "decorated_method_self_type_variable",
        "from typing import Any, Callable, Concatenate, ParamSpec, TypeVar\n"
        'P = ParamSpec("P")\n'
        'T = TypeVar("T")\n'
        "def fluent(fn: Callable[Concatenate[Any, P], None]) -> Callable[Concatenate[T, P], T]:\n"
        "    raise NotImplementedError\n"
        "class Builder:\n"
        "    @fluent\n"
        "    def add(self, x: int) -> None: ...\n",
        "from base import Builder\n\nb = Builder().add(1)\nreveal_type(b)\n",
        'main.py:4: note: Revealed type is "base.Builder"\n'
        "Success: no issues found in 1 source file\n",
        'main.py:3: error: Need type annotation for "b"  [var-annotated]\n'
        'main.py:4: note: Revealed type is "Any"\n'
        "Found 1 error in 1 file (checked 1 source file)\n",
        binding=True,
    ),
    # Any function loaded from the cache keeps no argument list; bound as a
    # method of the caller's class, its printed signature loses `self`.
    # `base` is flagged only once `main`, which copies the function into a
    # class body, is checked (`sensitive.copied_function_modules`), after
    # `main`'s task was placed: exact mode confirms that answer too.
    Case(
        "plain_function_bound_as_method_in_protocol_conflict",
        "from typing import Any\n\ndef k(self: Any, x: int) -> int: return x\n",
        "from typing import Protocol\n"
        "from base import k\n"
        "class Q:\n"
        "    m = k\n"
        "class P(Protocol):\n"
        "    def m(self, x: str) -> int: ...\n"
        "def g(x: P) -> None: ...\n"
        "g(Q())\n",
        "main.py:8: note:         def k(self, x: int) -> int\n",
        "main.py:8: note:         def k(x: int) -> int\n",
        cross_check=True,
    ),
    # The same copy in a class local to a function: its attribute's type is
    # inferred only with the function's body, after the interface result,
    # so the worker reads the copy from the class body's statements.
    Case(
        "plain_function_bound_as_method_in_local_class",
        "from typing import Any\n\ndef k(self: Any, x: int) -> int: return x\n",
        "from typing import Protocol\n"
        "from base import k\n"
        "class P(Protocol):\n"
        "    def m(self, x: str) -> int: ...\n"
        "def g(x: P) -> None: ...\n"
        "def run() -> None:\n"
        "    class Q:\n"
        "        m = k\n"
        "    g(Q())\n",
        "main.py:9: note:         def k(self, x: int) -> int\n",
        "main.py:9: note:         def k(x: int) -> int\n",
    ),
    # The cache stores a TypedDict type's keys sorted and messages list them
    # in the stored order (found on pydantic, whose core schemas are TypedDicts).
    Case(
        "typeddict_keys_in_definition_order",
        TYPEDDICT,
        "import base\n\ndef f(k: str) -> None:\n    base.make()[k]\n",
        'main.py:4: error: TypedDict key must be a string literal; expected one of ("zeta", "alpha", "mid")'
        "  [literal-required]\n",
        'main.py:4: error: TypedDict key must be a string literal; expected one of ("alpha", "mid", "zeta")'
        "  [literal-required]\n",
    ),
    Case(
        "typeddict_keys_in_an_anonymous_typeddict",
        TYPEDDICT,
        "from typing import Any, Mapping\nimport base\n\ndef f(m: Mapping[str, Any]) -> None:\n"
        "    base.make().update(m)\n",
        "expected \"TypedDict({'zeta'?: int, 'alpha'?: str, 'mid'?: bytes})\"",
        "expected \"TypedDict({'alpha'?: str, 'mid'?: bytes, 'zeta'?: int})\"",
    ),
    # The cache stores a class's names sorted, and an enum expanded into its
    # members (narrowing, `match`) lists them in the order of its names.
    Case(
        "enum_members_in_definition_order",
        "from enum import Enum\n\nclass Color(Enum):\n    RED = 1\n    GREEN = 2\n    BLUE = 3\n    AMBER = 4\n",
        "from base import Color\n\ndef f(c: Color) -> None:\n    if c is Color.GREEN:\n        return\n"
        "    x: str = c\n",
        '(expression has type "Literal[Color.RED, Color.BLUE, Color.AMBER]", variable has type "str")',
        '(expression has type "Literal[Color.AMBER, Color.BLUE, Color.RED]", variable has type "str")',
    ),
)
