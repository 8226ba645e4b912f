"""What `memory_form.py` writes down where a module is checked, and what putting it back reads.

`test_cache_vs_memory.py` shows the answers; here: the records themselves (a
link written only where the loader would set another), that putting a
module's argument lists back reads its function symbols from their bytes and
leaves every other symbol unread, as the loader would, and that the lazy
form (workers) reads nothing and knows which printed signatures a missing
list may have changed, as the engine prints them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mypy_split.memory_form import DEFINITIONS, MODULE
from mypy_split.printed_signatures import Lacked, _printed_signature, may_print_any
from mypy_split.test.conftest import WarmCache
from mypy_split.test.test_sensitive import BUILD_AND_KEEP, verdicts
from mypy_split.test.test_stored_order import RECORDS

BASE = (
    "import functools\n"
    "from typing import NamedTuple, overload, Any\n"
    "def connect(host: str, port: int = 0) -> None: ...\n"
    "alias = connect\n"
    "pair = (connect, connect)\n"
    "bound = functools.partial(connect, 'localhost')\n"
    "class Point(NamedTuple):\n"
    "    x: int\n"
    "@overload\n"
    "def conv(x: int) -> int: ...\n"
    "@overload\n"
    "def conv(x: str) -> str: ...\n"
    "def conv(x: Any) -> Any: return x\n"
    "conv_alias = conv\n"
    "plain = 1\n"
)

def test_links_written_where_the_loader_sets_others(tmp_path: Path, warm_cache: WarmCache) -> None:
    """Variables holding functions name them (overload items by index); generated methods had no link."""
    records = verdicts(tmp_path, warm_cache, {"base": BASE}, RECORDS)
    assert isinstance(records, dict)
    by_name = {name: refs for kind, name, refs in records["base"] if kind == DEFINITIONS}
    assert records["base"][0] == [MODULE, "base", []]
    assert by_name["base.alias"] == [["f:base.connect"]]
    assert by_name["base.pair"] == [["f:base.connect", "f:base.connect"]]
    # Overload items are decorated definitions (`@overload`).
    assert by_name["base.conv_alias"] == [["d:base.conv#0", "d:base.conv#1"]]
    # The partial object's `__call__` links to the function it wraps.
    assert "f:base.connect" in by_name["base.bound"][0]
    # A named tuple's generated methods have no link in memory; the loader would give them one.
    assert by_name["base.Point._replace"] == [[""]]
    # Plain functions and variables: nothing the loader does not rebuild.
    assert "base.connect" not in by_name and "base.plain" not in by_name


# A second build that loads `base` from the cache (only `main` changed), then
# puts `base`'s argument lists back and reports which symbols are read.
PUT_BACK = BUILD_AND_KEEP + """
from mypy_split.memory_form import restore_module
tree = kept.manager.modules["base"]
def read(names):
    return sorted(name for name, entry in names.items() if entry._node is not None and entry.cross_ref is None)
before = read(tree.names)
restore_module(tree)
info = tree.names["Thing"].node
print(json.dumps({
    "before": before,
    "after": read(tree.names),
    "members": read(info.names),
    "lists": {
        name: [argument.variable.name for argument in node.arguments][:1] + [len(node.arguments)]
        for name, node in (("f", tree.names["f"].node), ("m", info.names["m"].node))
    },
}))
"""


THING = (
    "def f(first: int, /, second: str = '') -> None: ...\n"
    "def g() -> None: ...\n"
    "class Thing:\n    size: int = 0\n    def m(self, x: int, *, y: int = 0) -> None: ...\n"
    "    @staticmethod\n    def s(a: int, b: str) -> None: ...\n"
    "    @classmethod\n    def c(cls, a: int) -> None: ...\n"
    "unused = [1, 2]\n"
)


def probe_base_from_cache(tmp_path: Path, warm_cache: WarmCache, script: str, base: str = THING) -> object:
    """What `script` prints after a build that loads `base` from the cache."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "base.py").write_text(base)
    cache = tmp_path / "cache"
    shutil.copytree(warm_cache([]), cache)
    env = {**os.environ, "PYTHONSAFEPATH": "1"}
    for text in ("import base\n", "import base\n# edited: base now comes from the cache\n"):
        (project / "main.py").write_text(text)
        completed = subprocess.run(
            [sys.executable, "-c", script, "--cache-dir", str(cache), "main.py"],
            cwd=project, env=env, capture_output=True, text=True, timeout=300,
        )
        assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.splitlines()[-1])


def test_putting_lists_back_reads_functions_only(tmp_path: Path, warm_cache: WarmCache) -> None:
    found = probe_base_from_cache(tmp_path, warm_cache, PUT_BACK)
    assert isinstance(found, dict)
    # Loaded from the cache, nothing of base was read but its class; then its functions only.
    assert found["before"] == ["Thing"]
    assert found["after"] == ["Thing", "f", "g"]
    assert found["members"] == ["c", "m", "s"]
    # The first argument's name (positional-only too) and the length, as messages read them.
    assert found["lists"] == {"f": ["first", 2], "m": ["self", 3]}


# The lazy form: nothing read, nothing put back; then each function read is
# put back once, and each is printed by the engine itself, bound and not,
# with and without its list, to see where `Lacked.may_differ` says so.
LAZY = BUILD_AND_KEEP + """
from mypy.messages import pretty_callable
from mypy.typeops import bind_self
from mypy_split.memory_form import function_entries, restore_read_functions
from mypy_split.printed_signatures import _printed_signature
tree = kept.manager.modules["base"]
entries = function_entries(tree)
listed = len(entries)
untouched, entries = restore_read_functions(entries)
info = tree.names["Thing"].node
functions = {"f": tree.names["f"].node, "g": tree.names["g"].node, **{name: info.names[name].node for name in ("m", "s", "c")}}
functions = {name: getattr(node, "func", node) for name, node in functions.items()}
found_now, entries = restore_read_functions(entries)
lacked = {found.name: found for found in found_now}
again, _ = restore_read_functions(function_entries(tree))
rows = []
for name, function in functions.items():
    for bound in (False, True):
        signature = bind_self(function.type) if bound else function.type
        with_list = pretty_callable(signature, kept.manager.options)
        saved = function.arguments
        del function.arguments
        without = pretty_callable(signature, kept.manager.options)
        function.arguments = saved
        printed = _printed_signature(without.partition("def ")[2])[1]
        # The first build checks base in memory: nothing lacked a list there.
        judged = lacked[name].may_differ(printed) if name in lacked else None
        rows.append([name, bound, with_list != without, judged])
print(json.dumps({
    "listed": listed, "untouched": len(untouched), "unread": len(entries), "lacked": sorted(lacked),
    "again": len(again), "rows": rows,
    "fields": {name: list(found[1:]) for name, found in lacked.items()},
}))
"""


def test_lazy_lists_put_back_on_functions_read(tmp_path: Path, warm_cache: WarmCache) -> None:
    found = probe_base_from_cache(tmp_path, warm_cache, LAZY)
    assert isinstance(found, dict)
    # Five functions listed, none read yet; then all read, each put back once.
    assert (found["listed"], found["untouched"], found["unread"], found["again"]) == (5, 0, 0, 0)
    assert found["lacked"] == ["c", "f", "g", "m", "s"]
    # Length, the first name without the list (a method's) and with it.
    assert {name: fields[:3] for name, fields in found["fields"].items()} == {
        "f": [2, None, "first"], "g": [0, None, ""], "m": [3, "self", "self"], "s": [2, None, "a"], "c": [2, "cls", "cls"]
    }
    # The names its signatures print (positional-only: none): its own, and the decorated one's.
    assert found["fields"]["f"][3] == [[[["", None], ["", "second"]], True]]
    assert found["fields"]["s"][3] == [[[["", "a"], ["", "b"]], True]] * 2
    rows = {(name, bound): (differs, judged) for name, bound, differs, judged in found["rows"]}
    # The engine's own answer: a method printed unbound gains its first name
    # twice without the list; bound, it reads the same; and a plain or static
    # function bound as a method loses its first name.
    assert rows[("m", False)] == (True, True)
    assert rows[("m", True)] == (False, False)
    assert rows[("f", True)] == (True, True)
    assert all(differs == judged for differs, judged in rows.values()), rows


SHAPES = """\
from typing import Any, Callable, ParamSpec, TypeVarTuple, Unpack, overload
P = ParamSpec("P")
Ts = TypeVarTuple("Ts")
def twice(fn: Callable[..., Any]) -> Callable[[Any, int, int], None]: return fn
def same(fn: Callable[..., Any]) -> Callable[..., Any]: return fn
def plain(x: int, y: int) -> None: ...
class Thing:
    def m(self, x: int, *, y: int = 0) -> None: ...
    def pos(self, x: int, /) -> None: ...
    def star(self, *args: int, **kwargs: str) -> None: ...
    def none(self) -> None: ...
    def spec(self, fn: Callable[P, None], *args: P.args, **kwargs: P.kwargs) -> None: ...
    def tuples(self, *args: Unpack[Ts]) -> None: ...
    @twice
    def d(self, x: int) -> None: ...
    @same
    def e(self, x: int) -> None: ...
    @staticmethod
    def s(a: int, b: str) -> None: ...
    @classmethod
    def c(cls, a: int) -> None: ...
    @overload
    def o(self, x: int) -> int: ...
    @overload
    def o(self, x: str) -> str: ...
    def o(self, x: Any) -> Any: return x
    copied = plain
"""

# Every signature the loader links to a function of SHAPES, printed by the
# engine bound and not, with and without the list: where it differs, and
# whether `may_print_any` says it may, given the functions read.
JUDGED = BUILD_AND_KEEP + """
from mypy.messages import pretty_callable
from mypy.typeops import bind_self
from mypy.nodes import Decorator
from mypy_split.memory_form import _slots, function_entries, restore_read_functions
from mypy_split.printed_signatures import may_print_any
tree = kept.manager.modules["base"]
info = tree.names["Thing"].node
symbols = [tree.names["plain"].node, *(entry.node for name, entry in info.names.items())]
lacked, _ = restore_read_functions(function_entries(tree))
rows = []
def judge(shown, function):
    with_list = pretty_callable(shown, kept.manager.options)
    saved = function.arguments
    del function.arguments
    without = pretty_callable(shown, kept.manager.options)
    function.arguments = saved
    rows.append([without, with_list != without, may_print_any([without], lacked)])
for symbol in symbols:
    for signature, definition in _slots(symbol):
        function = definition.func if isinstance(definition, Decorator) else definition
        if function is not None:
            judge(signature, function)
            judge(bind_self(signature), function)
# A plain function copied into the class, bound through the instance, its
# link to the function put back (a `DEFINITIONS` record).
function = tree.names["plain"].node
judge(bind_self(info.names["copied"].node.type.copy_modified(definition=function)), function)
print(json.dumps({"lacked": len(lacked), "rows": rows}))
"""


def test_judged_as_the_engine_prints(tmp_path: Path, warm_cache: WarmCache) -> None:
    found = probe_base_from_cache(tmp_path, warm_cache, JUDGED, SHAPES)
    assert isinstance(found, dict)
    rows = found["rows"]
    assert found["lacked"] >= 12 and len(rows) >= 30, found
    # Judged as the engine prints: every signature that reads otherwise with
    # its list is caught, and none that reads the same (bound, or decorated
    # into another shape) is.
    assert [row for row in rows if row[1] != row[2]] == []
    assert sum(row[1] for row in rows) >= 15 and sum(not row[1] for row in rows) >= 15, rows
    assert "def d(self, Any, int, int, /) -> None" in [row[0] for row in rows if row[1]]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("to(self, x: int, *, y: int = ...) -> None", ("to", ["self", "x: int", "y: int = ..."])),
        ("[T: int] f(x: T) -> T", ("f", ["x: T"])),
        ("(x: int) -> int", ("", ["x: int"])),
        ("f() -> None", ("f", [])),
        ("g(a: Literal['a, )'], b: dict[str, int], /) -> None", ("g", ["a: Literal['a, )']", "b: dict[str, int]"])),
        ("h(*args: Any, **kwargs: Any) -> None", ("h", ["*args: Any", "**kwargs: Any"])),
        ("k(c: Callable[[int], None], d: def (a: int) -> None) -> int", ("k", ["c: Callable[[int], None]", "d: def (a: int) -> None"])),
        ("ined symbol", (None, None)),
        ("[T f(x)", (None, None)),
        ("f(x: Literal['a) -> None", ("f", None)),
    ],
)
def test_printed_signature_read(text: str, expected: tuple[str | None, list[str] | None]) -> None:
    assert _printed_signature(text) == expected


def test_printed_signatures_matched_to_functions_lacking_lists() -> None:
    method = Lacked("to", 2, "self", "self", (((("", "self"), ("", "x")), True),))
    positional = Lacked("to", 2, "self", "self", (((("", None), ("", "x")), True),))
    decorated = Lacked("to", 2, "self", "self", (((("", "self"), ("", "x")), True), None))
    starred = Lacked("to", 2, "self", "self", (((("", None), ("*", "args")), True),))
    expanding = Lacked("to", 2, "self", "self", (((("", None),), False),))
    plain = Lacked("conv", 1, None, "x", (((("", "x"),), True),))
    # Unbound: its first name, then its own arguments again; differs.
    assert may_print_any(['Got: "def to(self, self: C, x: int) -> None"'], [method])
    assert may_print_any(["def to(self, C, /, x: int) -> None"], [positional])
    # Bound: reads the same; another function of that name, or none named: not this one.
    assert not may_print_any(["    def to(self, x: int) -> None"], [method, positional])
    assert not may_print_any(["def to(self, y: str, z: int) -> None", "def (a: int) -> None"], [method, positional])
    assert not may_print_any(["def to(C, /, x: int) -> None"], [method])
    # A signature decorated into another shape: as many arguments as its list or more is enough.
    assert may_print_any(["def to(self, int, str) -> None"], [decorated])
    assert not may_print_any(["def to(self, int) -> None"], [decorated])
    # Star arguments print as such; unless they can become more, then the arguments before them are the same.
    assert may_print_any(["def to(self, C, *args: int) -> None"], [starred])
    assert not may_print_any(["def to(self, content: str, *, layout: bool = ...) -> None"], [starred])
    assert may_print_any(["def to(self, C, int, str) -> None", "def to(self, int, str) -> None"], [expanding])
    assert not may_print_any(["def to(self, content: str) -> None"], [expanding])
    # A plain function printed with fewer arguments than its list: bound as a method, differs.
    assert may_print_any(["def conv() -> int"], [plain])
    assert not may_print_any(["def conv(x: int) -> int"], [plain])
    # What cannot be read counts as any function's; with nothing lacking, nothing does.
    assert may_print_any(["undef ined"], [plain])
    assert not may_print_any(["undef ined"], [])
