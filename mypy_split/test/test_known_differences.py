"""Known differences from mypy, pinned: each one listed in README under "Known limits".

These are the answers of the default mode, where a worker may load any
dependency from the cache.  With `MYPY_SPLIT_MEMORY_AFFINITY=1` all but the
last one print mypy's cold answer (`test_cache_vs_memory.py`).

A test here passes when mypy-split prints mypy's answer or mypy's answer with
exactly the documented difference, and fails on anything else, so the list
cannot grow silently and a fix shows up as the pinned form disappearing.

Every difference here is one the engine makes by itself: some messages differ
depending on whether a dependency was checked in this process (in memory) or
loaded from the cache.  Each project has a module `base`, free of errors, and a
module `main` that imports it; `mypy main.py` on a cold cache checks both in
one process, while a worker that checks `main` may load `base` from the cache
because another worker checked it.  Each test also confirms that the pinned
form is what `mypy` itself prints when only `main.py` changed since the cold
run (so `base` comes from the cache), which shows the difference is the
engine's and not ours.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from mypy_split.test.conftest import WarmCache
from mypy_split.test.differential import MYPY, MYPY_SPLIT, RunResult, run_tool

ATTEMPTS = 3


def check_pinned(
    tmp_path: Path, warm_cache: WarmCache, base: str, caller: str, cold: str, warm: str
) -> None:
    """mypy-split prints mypy's cold answer, or that answer with `cold` replaced by `warm`."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "base.py").write_text(base)
    (project / "main.py").write_text(caller)
    mypy_cache = tmp_path / "mypy"
    shutil.copytree(warm_cache([]), mypy_cache)
    reference = run_tool(MYPY, ["main.py"], project, mypy_cache, {})
    assert cold in reference.stdout, reference.describe()
    pinned = reference.stdout.replace(cold, warm, 1)

    # mypy on the same project after an edit to main.py alone (a trailing
    # comment, so no line moves): base comes from the cache, and mypy prints
    # the pinned form.
    edited = tmp_path / "edited"
    shutil.copytree(project, edited)
    with open(edited / "main.py", "a") as f:
        f.write("# edited\n")
    engine_warm = run_tool(MYPY, ["main.py"], edited, mypy_cache, {})
    assert engine_warm.stdout == pinned, engine_warm.describe()

    allowed: dict[str, RunResult] = {reference.stdout: reference, pinned: engine_warm}
    for attempt in range(ATTEMPTS):
        cache = tmp_path / f"split-{attempt}"
        shutil.copytree(warm_cache([]), cache)
        ours = run_tool(MYPY_SPLIT, ["main.py", "-n", "2"], project, cache, {})
        assert ours.stdout in allowed, ours.describe()
        expected = allowed[ours.stdout]
        assert ours.returncode == expected.returncode
        assert ours.stderr == expected.stderr
        if ours.stdout == pinned:
            break


# -- Methods that plugins or semantic analysis generate (dataclass, NamedTuple,
# NewType): their type links back to the generated definition only once loaded
# from the cache, so the note naming the defining module appears warm only.

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


def test_dataclass_init_defined_in_note(tmp_path: Path, warm_cache: WarmCache) -> None:
    error = (
        'main.py:3: error: Unexpected keyword argument "nam" for "User";'
        ' did you mean "name"?  [call-arg]\n'
    )
    check_pinned(
        tmp_path,
        warm_cache,
        DATACLASS,
        'from base import User\n\nUser(nam="x")\n',
        error,
        error + 'main.py:3: note: "User" defined in "base"\n',
    )


def test_dataclass_too_many_positional_defined_in_note(
    tmp_path: Path, warm_cache: WarmCache
) -> None:
    error = 'main.py:3: error: Too many positional arguments for "Point"  [call-arg]\n'
    check_pinned(
        tmp_path,
        warm_cache,
        KW_ONLY_DATACLASS,
        "from base import Point\n\nPoint(1)\n",
        error,
        error + 'main.py:3: note: "Point" defined in "base"\n',
    )


def test_dataclass_missing_named_defined_in_note(tmp_path: Path, warm_cache: WarmCache) -> None:
    error = 'main.py:3: error: Missing named argument "x" for "Point"  [call-arg]\n'
    check_pinned(
        tmp_path,
        warm_cache,
        KW_ONLY_DATACLASS,
        "from base import Point\n\nPoint()\n",
        error,
        error + 'main.py:3: note: "Point" defined in "base"\n',
    )


def test_namedtuple_new_defined_in_note(tmp_path: Path, warm_cache: WarmCache) -> None:
    error = 'main.py:3: error: Unexpected keyword argument "y" for "Point"  [call-arg]\n'
    check_pinned(
        tmp_path,
        warm_cache,
        NAMEDTUPLE,
        "from base import Point\n\nPoint(y=1)\n",
        error,
        error + 'main.py:3: note: "Point" defined in "base"\n',
    )


def test_newtype_init_defined_in_note(tmp_path: Path, warm_cache: WarmCache) -> None:
    error = 'main.py:3: error: Unexpected keyword argument "x" for "UserId"  [call-arg]\n'
    check_pinned(
        tmp_path,
        warm_cache,
        'from typing import NewType\n\nUserId = NewType("UserId", int)\n',
        "from base import UserId\n\nUserId(item=1, x=2)\n",
        error,
        error + 'main.py:3: note: "UserId" defined in "base"\n',
    )


def test_namedtuple_replace_defined_in_note(tmp_path: Path, warm_cache: WarmCache) -> None:
    error = (
        'main.py:3: error: Unexpected keyword argument "y" for "_replace" of "Point"  [call-arg]\n'
    )
    check_pinned(
        tmp_path,
        warm_cache,
        NAMEDTUPLE,
        "from base import Point\n\nPoint(1)._replace(y=2)\n",
        error,
        error + 'main.py:3: note: "_replace" defined in "base"\n',
    )


def test_namedtuple_special_first_argument_note(tmp_path: Path, warm_cache: WarmCache) -> None:
    # The generated methods name their first argument `_self`.
    error = 'main.py:3: error: Too many arguments for "_asdict" of "Point"  [call-arg]\n'
    check_pinned(
        tmp_path,
        warm_cache,
        NAMEDTUPLE,
        "from base import Point\n\nPoint(1)._asdict(1)\n",
        error,
        error
        + "main.py:3: note: Looks like the first special argument in a method is not named"
        + ' "self", "cls", or "mcs", maybe it is missing?\n',
    )


def test_namedtuple_method_in_protocol_conflict(tmp_path: Path, warm_cache: WarmCache) -> None:
    check_pinned(
        tmp_path,
        warm_cache,
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
    )


def test_namedtuple_method_in_override_note(tmp_path: Path, warm_cache: WarmCache) -> None:
    check_pinned(
        tmp_path,
        warm_cache,
        NAMEDTUPLE,
        "from base import Point\n"
        "\n"
        "class Point3(Point):\n"
        "    def _asdict(self, deep: bool) -> dict[str, object]:\n"
        "        return {}\n",
        "main.py:4: note:          def _asdict() -> dict[str, Any]\n",
        "main.py:4: note:          def _asdict(_self) -> dict[str, Any]\n",
    )


# -- Callables stored in variables (aliases, partial objects): the link to the
# function's definition is not in the cache, so what it gives is lost warm.


def test_function_alias_defined_in_note(tmp_path: Path, warm_cache: WarmCache) -> None:
    error = 'main.py:3: error: Unexpected keyword argument "hots"  [call-arg]\n'
    check_pinned(
        tmp_path,
        warm_cache,
        "def connect(host: str) -> None: ...\n\nopen_connection = connect\n",
        'from base import open_connection\n\nopen_connection(hots="x")\n',
        error + 'main.py:3: note: Called function defined in "base"\n',
        error,
    )


def test_partial_defined_in_note(tmp_path: Path, warm_cache: WarmCache) -> None:
    error = 'main.py:3: error: Unexpected keyword argument "prot" for "connect"  [call-arg]\n'
    check_pinned(
        tmp_path,
        warm_cache,
        "from functools import partial\n"
        "def connect(host: str, port: int) -> None: ...\n"
        'local = partial(connect, "localhost")\n',
        "from base import local\n\nlocal(prot=1)\n",
        error + 'main.py:3: note: "connect" defined in "base"\n',
        error,
    )


def test_method_alias_in_protocol_conflict(tmp_path: Path, warm_cache: WarmCache) -> None:
    check_pinned(
        tmp_path,
        warm_cache,
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
    )


OVERLOADED = '''\
from typing import Any, overload

class Conv:
    @overload
    def to(self, x: int) -> int: ...
    @overload
    def to(self, x: str) -> str: ...
    def to(self, x: Any) -> Any: return x
'''


def test_overload_alias_variants(tmp_path: Path, warm_cache: WarmCache) -> None:
    check_pinned(
        tmp_path,
        warm_cache,
        OVERLOADED + "    convert = to\n",
        "from base import Conv\n\nConv().convert(1.0)\n",
        "main.py:3: note:     def to(self, x: int) -> int\n"
        "main.py:3: note:     def to(self, x: str) -> str\n",
        "main.py:3: note:     def (x: int) -> int\nmain.py:3: note:     def (x: str) -> str\n",
    )


def test_staticmethod_alias_as_class_attribute(tmp_path: Path, warm_cache: WarmCache) -> None:
    # In memory the alias's type still links to a staticmethod, so `loader`
    # becomes a static attribute of Config; from the cache it binds `self`.
    check_pinned(
        tmp_path,
        warm_cache,
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
    )


# -- Function definitions loaded from the cache keep no argument list, only the
# first argument's name, and signatures printed from them repeat or add it.


def test_overload_variants_called_on_class(tmp_path: Path, warm_cache: WarmCache) -> None:
    check_pinned(
        tmp_path,
        warm_cache,
        OVERLOADED,
        "from base import Conv\n\nConv.to(Conv(), 1.0)\n",
        "main.py:3: note:     def to(self: Conv, x: int) -> int\n"
        "main.py:3: note:     def to(self: Conv, x: str) -> str\n",
        "main.py:3: note:     def to(self, self: Conv, x: int) -> int\n"
        "main.py:3: note:     def to(self, self: Conv, x: str) -> str\n",
    )


PAIRWISE = '''\
from typing import Any, Callable

def pairwise(fn: Callable[[Any, int], int]) -> Callable[[Any, int, int], int]:
    raise NotImplementedError

class Calc:
    @pairwise
    def add(self, x: int) -> int: return x
'''


def test_decorated_method_in_protocol_conflict(tmp_path: Path, warm_cache: WarmCache) -> None:
    check_pinned(
        tmp_path,
        warm_cache,
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
    )


def test_decorated_method_in_override_note(tmp_path: Path, warm_cache: WarmCache) -> None:
    check_pinned(
        tmp_path,
        warm_cache,
        PAIRWISE,
        "from base import Calc\n"
        "\n"
        "class Calc2(Calc):\n"
        "    def add(self, x: str) -> int: return 0\n",
        "main.py:4: note:          def add(int, int, /) -> int\n",
        "main.py:4: note:          def add(self, int, int, /) -> int\n",
    )


# -- Decorators loaded from the cache keep no decorator list, so a method with
# a decorator looks undecorated: its self argument is neither checked against
# the instance nor used to infer type variables.


def test_decorated_method_self_argument_not_checked(
    tmp_path: Path, warm_cache: WarmCache
) -> None:
    check_pinned(
        tmp_path,
        warm_cache,
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
    )


def test_decorated_method_self_type_variable(tmp_path: Path, warm_cache: WarmCache) -> None:
    check_pinned(
        tmp_path,
        warm_cache,
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
    )


def test_plain_function_bound_as_method_in_protocol_conflict(
    tmp_path: Path, warm_cache: WarmCache
) -> None:
    # Any function loaded from the cache keeps no argument list; bound as a
    # method of the caller's class, its printed signature loses `self`.
    # Flagging every module that defines a function would make every worker
    # check nearly every stale module again.
    check_pinned(
        tmp_path,
        warm_cache,
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
    )
