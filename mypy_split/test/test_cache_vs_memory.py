"""Modules that the engine sees differently in memory and from the cache: mypy's answer at any -n.

The engine answers some questions about a dependency differently when it was
checked in the same process (in memory) and when it was loaded from the
cache.  Each project here has a module `base`, free of errors, and a module
`main` that imports it; `mypy main.py` on a cold cache checks both in one
process.  At `-n 2` and `-n 3` the worker that checks `main` is usually not
the one that checked `base`: mypy-split must keep `base` in memory there
(`mypy_split/affinity.py`) and print mypy's cold answer.

Each test also confirms that mypy itself prints another answer (`cold`
replaced by `warm`) when only `main.py` changed since the cold run, so `base`
comes from the cache: the case does exercise a difference of the engine's.
In two cases, mypy then finds mypy-split's cache fresh and prints the same.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from mypy_split.affinity import AFFINITY_VARIABLE
from mypy_split.sharing import SHARE_MIN_VARIABLE
from mypy_split.test.conftest import WarmCache
from mypy_split.test.differential import MYPY, MYPY_SPLIT, run_tool, stale_lines

# The exact mode this file is about (off by default, see README "Known limits").
EXACT = {AFFINITY_VARIABLE: "1"}

WORKER_COUNTS = ("2", "3")


def check_pinned(
    tmp_path: Path,
    warm_cache: WarmCache,
    base: str,
    caller: str,
    cold: str,
    warm: str,
    cross_check: bool = False,
) -> None:
    """mypy-split prints mypy's cold answer, which differs from mypy's answer with `base` cached.

    With `cross_check`, mypy then finds mypy-split's cache fresh (a few cases
    suffice: checking again in memory is the same code for every case).
    """
    project = tmp_path / "project"
    project.mkdir()
    (project / "base.py").write_text(base)
    (project / "main.py").write_text(caller)
    mypy_cache = tmp_path / "mypy"
    shutil.copytree(warm_cache([]), mypy_cache)
    reference = run_tool(MYPY, ["main.py"], project, mypy_cache, {})
    assert cold in reference.stdout, reference.describe()

    # mypy on the same project after an edit to main.py alone (a trailing
    # comment, so no line moves): base comes from the cache.
    edited = tmp_path / "edited"
    shutil.copytree(project, edited)
    with open(edited / "main.py", "a") as f:
        f.write("# edited\n")
    engine_warm = run_tool(MYPY, ["main.py"], edited, mypy_cache, {})
    assert engine_warm.stdout == reference.stdout.replace(cold, warm, 1), engine_warm.describe()

    for workers in WORKER_COUNTS:
        cache = tmp_path / f"split-{workers}"
        shutil.copytree(warm_cache([]), cache)
        ours = run_tool(MYPY_SPLIT, ["main.py", "-n", workers], project, cache, EXACT)
        assert (ours.stdout, ours.stderr, ours.returncode) == (
            reference.stdout, reference.stderr, reference.returncode
        ), f"-n {workers}: " + ours.describe()
    if not cross_check:
        return
    # Checking again in memory wrote nothing: the cache is mypy's.
    again = run_tool(MYPY, ["main.py", "-v"], project, cache, {})
    assert again.stdout == reference.stdout, again.describe()
    assert stale_lines(again) == [], again.stderr


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
        cross_check=True,
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
        cross_check=True,
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


def test_needs_split_over_workers(tmp_path: Path, warm_cache: WarmCache) -> None:
    """Two flagged modules, checked side by side on two workers, both needed by main."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "users.py").write_text(DATACLASS)
    (project / "points.py").write_text(NAMEDTUPLE)
    (project / "main.py").write_text(
        "from users import User\nfrom points import Point\n\nUser(nam='x')\nPoint(y=1)\n"
    )
    mypy_cache = tmp_path / "mypy"
    shutil.copytree(warm_cache([]), mypy_cache)
    reference = run_tool(MYPY, ["main.py"], project, mypy_cache, {})
    assert "defined in" not in reference.stdout and reference.returncode == 1, reference.describe()
    for workers in WORKER_COUNTS:
        cache = tmp_path / f"split-{workers}"
        shutil.copytree(warm_cache([]), cache)
        ours = run_tool(MYPY_SPLIT, ["main.py", "-n", workers], project, cache, EXACT)
        assert (ours.stdout, ours.stderr, ours.returncode) == (
            reference.stdout, reference.stderr, reference.returncode
        ), f"-n {workers}: " + ours.describe()


def test_typeshed_checked_in_this_run(tmp_path: Path) -> None:
    """On a cold cache the standard library is checked too, and is in memory for mypy.

    An overloaded method of `dict` called on the class lists its variants
    with a `self` from the cache; every worker must hold builtins in memory.
    """
    project = tmp_path / "project"
    project.mkdir()
    (project / "main.py").write_text("dict.get({}, 1, 2, 3)\n")
    reference = run_tool(MYPY, ["main.py"], project, tmp_path / "mypy", {})
    assert "def [_KT, _VT] get(dict[_KT, _VT], _KT, _VT, /)" in reference.stdout, reference.describe()
    ours = run_tool(MYPY_SPLIT, ["main.py", "-n", "2"], project, tmp_path / "split", EXACT)
    assert (ours.stdout, ours.stderr, ours.returncode) == (
        reference.stdout, reference.stderr, reference.returncode
    ), ours.describe()


def test_shared_cycle_helpers_hold_the_needs(tmp_path: Path, warm_cache: WarmCache) -> None:
    """Every process checking bodies of a shared cycle (owner, helpers) has `base` in memory."""
    project = tmp_path / "project"
    (project / "ring").mkdir(parents=True)
    (project / "base.py").write_text(DATACLASS)
    (project / "ring" / "__init__.py").write_text("")
    for index in range(6):
        (project / "ring" / f"m{index}.py").write_text(
            f"from ring import m{(index + 5) % 6}\nfrom base import User\n\n"
            f"class C{index}:\n    def run(self) -> int:\n        User(nam='x')\n        return 0\n"
        )
    mypy_cache = tmp_path / "mypy"
    shutil.copytree(warm_cache([]), mypy_cache)
    reference = run_tool(MYPY, ["-p", "ring"], project, mypy_cache, {})
    assert reference.stdout.count("[call-arg]") == 6, reference.describe()
    cache = tmp_path / "split"
    shutil.copytree(warm_cache([]), cache)
    # Sharing forced: idle workers join the cycle's bodies at once.
    ours = run_tool(MYPY_SPLIT, ["-p", "ring", "-n", "3"], project, cache, {**EXACT, SHARE_MIN_VARIABLE: "0"})
    assert (ours.stdout, ours.stderr, ours.returncode) == (
        reference.stdout, reference.stderr, reference.returncode
    ), ours.describe()
