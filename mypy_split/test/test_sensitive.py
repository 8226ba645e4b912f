"""Which checked modules `sensitive.py` flags, at which level: each kind of construct, and plain code not.

A flag that is missing lets a worker load the module from the cache and print
the cache form (`test_cache_vs_memory.py` shows the cases); what the cache
loses and `memory_form.py` puts back (generated methods, callables in
variables, overloads, argument lists) needs no flag; a flag too many
(or too high: `BINDING` is kept in memory by default) makes workers check
modules again for nothing, so plain modules must pass.  The modules are
checked in a separate process (a build sets process-wide engine state), which
prints each module's verdict.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from mypy_split.build_worker.faults import WITHHELD
from mypy_split.test.conftest import WarmCache

MODULES = {
    # Not flagged: what the cache loses here is put back where it is loaded
    # (`memory_form.py`): generated methods, callables in variables, overloads.
    "dataclass_class": "from dataclasses import dataclass\n@dataclass\nclass A:\n    x: int\n",
    "namedtuple_call": "from typing import NamedTuple\nP = NamedTuple('P', [('x', int)])\n",
    "newtype": "from typing import NewType\nUid = NewType('Uid', int)\n",
    "typeddict": "from typing import TypedDict\nclass T(TypedDict):\n    a: int\n",
    "total_ordering": (
        "import functools\n@functools.total_ordering\nclass C:\n"
        "    def __lt__(self, o: object) -> bool: return True\n"
    ),
    "function_alias": "def f(x: int) -> None: ...\ng = f\n",
    "partial_object": "from functools import partial\ndef f(x: int, y: int) -> None: ...\ng = partial(f, 1)\n",
    "method_alias": "class C:\n    def m(self) -> None: ...\n    n = m\n",
    "overload": (
        "from typing import overload, Any\n@overload\ndef f(x: int) -> int: ...\n"
        "@overload\ndef f(x: str) -> str: ...\ndef f(x: Any) -> Any: return x\n"
    ),
    # Decorated, but bound the same way from the cache: an `Any` first argument ...
    "decorated_method": (
        "from typing import Any, Callable\n"
        "def deco(f: Callable[[Any], int]) -> Callable[[Any, int], int]: raise NotImplementedError\n"
        "class C:\n    class Inner:\n        @deco\n        def m(self) -> int: return 0\n"
    ),
    # ... or the plain instance, kept by a ParamSpec (generic classes too) ...
    "decorated_method_plain_self": (
        "from typing import Callable, Generic, ParamSpec, TypeVar\n"
        "P = ParamSpec('P')\nR = TypeVar('R')\nT = TypeVar('T')\n"
        "def keep(f: Callable[P, R]) -> Callable[P, list[R]]: raise NotImplementedError\n"
        "class C(Generic[T]):\n    @keep\n    def m(self, x: T) -> int: return 0\n"
        "    @classmethod\n    @keep\n    def k(cls) -> int: return 0\n"
    ),
    # ... or `*args: Any` (a `Callable[..., R]`), a module-level function.
    "decorated_function_any_args": (
        "from typing import Any, Callable\n"
        "def loose(f: Callable[..., int]) -> Callable[..., str]: raise NotImplementedError\n"
        "class C:\n    @loose\n    def m(self) -> int: return 0\n"
        "@loose\ndef f() -> int: return 0\n"
    ),
    # Bound differently from the cache: the self argument of the decorated
    # signature is something else than the instance.
    "decorated_method_other_self": (
        "from typing import Any, Callable, Protocol\n"
        "class Named(Protocol):\n    name: str\n"
        "def deco(f: Callable[[Any], int]) -> Callable[[Named], int]: raise NotImplementedError\n"
        "class C:\n    @deco\n    def m(self) -> int: return 0\n"
    ),
    "decorated_method_self_type_variable": (
        "from typing import Any, Callable, Concatenate, ParamSpec, TypeVar\n"
        "P = ParamSpec('P')\nT = TypeVar('T')\n"
        "def fluent(f: Callable[Concatenate[Any, P], None]) -> Callable[Concatenate[T, P], T]:\n"
        "    raise NotImplementedError\n"
        "class C:\n    @fluent\n    def m(self, x: int) -> None: ...\n"
    ),
    # A package re-exporting such a class from its submodule is judged by its own names.
    "pkg/__init__": "from pkg.sub import C\n",
    "pkg/sub": (
        "from typing import Any, Callable, TypeVar\n"
        "T = TypeVar('T')\n"
        "def fluent(f: Callable[[Any], None]) -> Callable[[T], T]: raise NotImplementedError\n"
        "class C:\n    @fluent\n    def m(self) -> None: ...\n"
    ),
    # Printed through the class as `def m(self, self: C, ...)` from the cache,
    # unless the argument list is put back.
    "keyword_only_method": "class C:\n    def m(self, x: int, *, y: int = 0) -> None: ...\n",
    "star_args_method": "class C:\n    def m(self, *args: int, **kwargs: int) -> None: ...\n",
    # Callables with no definition to link (a lambda, an annotated return): nothing lost.
    "lambda_variable": "g = lambda x: x\nclass C:\n    h = lambda self, y: y\n",
    "inner_function_variable": (
        "from typing import Callable\n"
        "def outer() -> Callable[[int], int]:\n"
        "    def inner(x: int) -> int: return x\n"
        "    return inner\n"
        "g = outer()\n"
    ),
    # Not flagged: what semantic analysis understands, and plain code.
    "plain": (
        "import os\nfrom dataclasses import dataclass\nfrom abc import ABC, abstractmethod\n"
        "import functools\n"
        "X = 1\ny = os.path.join('a', 'b')\n"
        "class Base(ABC):\n    @abstractmethod\n    def m(self) -> None: ...\n"
        "class C(Base):\n    attr: int = 0\n    def m(self) -> None: ...\n"
        "    @property\n    def p(self) -> int: return 1\n"
        "    @staticmethod\n    def s() -> None: ...\n"
        "    @classmethod\n    def c(cls) -> None: ...\n"
        "    @functools.cached_property\n    def cp(self) -> int: return 1\n"
        "    @staticmethod\n    def sk(*, k: int) -> None: ...\n"
        "    @classmethod\n    def cs(cls, *args: int, **kwargs: int) -> None: ...\n"
        "def f(x: int, *args: int, k: int = 0) -> C: return C()\n"
    ),
    # Flagged MESSAGES: a module whose memory form is not written down (a test
    # setting stands for a symbol whose definition cannot be found by name).
    "withheld": "from dataclasses import dataclass\n@dataclass\nclass A:\n    x: int\n",
}
BINDING = {"decorated_method_other_self", "decorated_method_self_type_variable", "pkg.sub"}
MESSAGES = {"withheld"}
EXPECTED = {
    name.replace("/__init__", "").replace("/", "."): (
        2 if name.replace("/", ".") in BINDING else 1 if name in MESSAGES else 0
    )
    for name in MODULES
}

# A script's start: check the modules named on its command line in one build, kept open (`kept`).
BUILD_AND_KEEP = """
import json, sys
from mypy.main import process_options
from mypy.fscache import FileSystemCache
from mypy_split import driver, output
fscache = FileSystemCache()
sources, options = process_options(sys.argv[1:], fscache=fscache)
sink = output.MessageSink(options, sys.stderr, sys.stderr)
kept = driver.build_and_keep(sources, options, fscache, sink, sys.stderr, sys.stderr)
assert isinstance(kept, driver.KeptBuild), kept
"""
REPORT = BUILD_AND_KEEP + """
from mypy_split.phases import memory_facts
print(json.dumps({s.module: int(memory_facts([s.module], kept.graph)[0]) for s in sources}))
"""


def verdicts(tmp_path: Path, warm_cache: WarmCache, modules: dict[str, str], script: str) -> object:
    """What `script` prints for these modules, checked in one process."""
    project = tmp_path / "project"
    for name, text in modules.items():
        (project / f"{name}.py").parent.mkdir(parents=True, exist_ok=True)
        (project / f"{name}.py").write_text(text)
    cache = tmp_path / "cache"
    shutil.copytree(warm_cache([]), cache)
    completed = subprocess.run(
        [sys.executable, "-c", script, "--cache-dir", str(cache), *sorted(f"{n}.py" for n in modules)],
        cwd=project,
        env={**os.environ, "PYTHONSAFEPATH": "1", WITHHELD: "withheld"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.splitlines()[-1])


def test_flags_exactly_the_listed_constructs(tmp_path: Path, warm_cache: WarmCache) -> None:
    assert verdicts(tmp_path, warm_cache, MODULES, REPORT) == EXPECTED
