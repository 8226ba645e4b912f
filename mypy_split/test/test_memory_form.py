"""What `memory_form.py` writes down where a module is checked, and what putting it back reads.

`test_cache_vs_memory.py` shows the answers; here: the records themselves (a
link written only where the loader would set another), and that putting a
module's argument lists back reads its function symbols from their bytes and
leaves every other symbol unread, as the loader would.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from mypy_split.memory_form import DEFINITIONS, MODULE
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


def test_putting_lists_back_reads_functions_only(tmp_path: Path, warm_cache: WarmCache) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "base.py").write_text(
        "def f(first: int, /, second: str = '') -> None: ...\n"
        "class Thing:\n    size: int = 0\n    def m(self, x: int, *, y: int = 0) -> None: ...\n"
        "unused = [1, 2]\n"
    )
    (project / "main.py").write_text("import base\n")
    cache = tmp_path / "cache"
    shutil.copytree(warm_cache([]), cache)
    env = {**os.environ, "PYTHONSAFEPATH": "1"}
    for text in ("import base\n", "import base\n# edited: base now comes from the cache\n"):
        (project / "main.py").write_text(text)
        completed = subprocess.run(
            [sys.executable, "-c", PUT_BACK, "--cache-dir", str(cache), "main.py"],
            cwd=project, env=env, capture_output=True, text=True, timeout=300,
        )
        assert completed.returncode == 0, completed.stderr
    found = json.loads(completed.stdout.splitlines()[-1])
    # Loaded from the cache, nothing of base was read but its class; then its functions only.
    assert found["before"] == ["Thing"]
    assert found["after"] == ["Thing", "f"]
    assert found["members"] == ["m"]
    # The first argument's name (positional-only too) and the length, as messages read them.
    assert found["lists"] == {"f": ["first", 2], "m": ["self", 3]}
