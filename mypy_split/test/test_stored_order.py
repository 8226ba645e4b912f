"""Orders the cache stores sorted (an enum's members, a TypedDict's keys), put back where a module is loaded.

`stored_order.py` writes them down where a module is checked and restores
them in any process that loads the module from the cache in the same run.
The cases of `cache_memory_cases.py` show the defining module's own orders;
here: what is recorded, the bookkeeping of who was sent what, and a
TypedDict type held by a module that only uses the TypedDict class (a
variable's inferred type), which that module's cache entry stores sorted.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mypy_split.memory_form import MODULE
from mypy_split.stored_order import KEYS, NAMES, TYPES, StoredOrders
from mypy_split.test.conftest import WarmCache
from mypy_split.test.differential import MYPY, run_tool
from mypy_split.test.test_cache_vs_memory import EXACT, check_main_at_worker_counts
from mypy_split.test.test_sensitive import REPORT, verdicts

MODULES = {
    "defs": (
        "import enum\nfrom typing import TypedDict\n"
        "class Color(enum.Enum):\n    RED = 1\n    BLUE = 2\n"
        "class Sorted(enum.Enum):\n    ALPHA = 1\n    BETA = 2\n"
        "class Options(TypedDict, total=False):\n    zeta: int\n    alpha: str\n"
        "class Plain(TypedDict):\n    a: int\n    b: int\n"
    ),
    "users": (
        "from typing import Unpack\nfrom defs import Options, Plain\n"
        "current = [Options(zeta=1)]\n"
        "annotated: Options = {}\n"
        "plain = Plain(a=1, b=2)\n"
        "class Holder:\n    held = Options(alpha='')\n"
        "def make() -> Options: return {}\n"
        "def takes(**kwargs: Unpack[Options]) -> None: ...\n"
    ),
}
RECORDS = REPORT.replace(
    "int(memory_facts([s.module], kept.graph)[0])", "memory_facts([s.module], kept.graph)[1].get(s.module, [])"
)


def test_what_is_recorded(tmp_path: Path, warm_cache: WarmCache) -> None:
    """Only orders out of sorted order, and only types held, not annotations naming the class.

    Every module also gets its module-wide memory form put back (`memory_form.py`).
    """
    assert verdicts(tmp_path, warm_cache, MODULES, RECORDS) == {
        "defs": [
            [MODULE, "defs", []],
            [NAMES, "defs.Color", [["RED", "BLUE"]]],
            [KEYS, "defs.Options", [["zeta", "alpha"]]],
        ],
        "users": [
            [MODULE, "users", []],
            [TYPES, "users.current", [["zeta", "alpha"]]],
            [TYPES, "users.takes", [["zeta", "alpha"]]],
            [TYPES, "users.Holder.held", [["zeta", "alpha"]]],
        ],
    }


def test_each_process_is_sent_each_record_once() -> None:
    orders = StoredOrders()
    record = (KEYS, "defs.Options", [["zeta", "alpha"]])
    orders.add({"defs": [record], "empty": []})
    assert orders.unsent(0) == {"defs": [record]}
    assert orders.unsent(0) == {}
    assert orders.unsent(1) == {"defs": [record]}
    # Checked again (after a fault): every process is sent the new records.
    again = (KEYS, "defs.Options", [["alpha", "zeta"]])
    orders.add({"defs": [again]})
    assert orders.unsent(0) == {"defs": [again]}
    assert orders.unsent(1) == {"defs": [again]}


# `mid` holds a TypedDict type of `defs`, and `main` shows it: the form with
# `mid` in memory, then the text that replaces it with `mid` from the cache.
HELD = {
    "variable": (
        "from defs import Options\n\ncurrent = Options(zeta=1)\n",
        "import mid\n\ndef f(k: str) -> None:\n    mid.current[k]\n",
        'expected one of ("zeta", "alpha")',
        'expected one of ("alpha", "zeta")',
    ),
    # From the cache the positional argument is also checked against the
    # first key's type: an error more (the engine's, not only an order).
    "unpacked_keywords": (
        "from typing import Unpack\nfrom defs import Options\n\ndef f(**kwargs: Unpack[Options]) -> None: ...\n",
        "import mid\n\nmid.f(1)\n",
        "Found 1 error",
        'Argument 1 to "f" has incompatible type "int"; expected "str"',
    ),
}


@pytest.mark.parametrize("mode", [EXACT, {}], ids=["exact", "default"])
@pytest.mark.parametrize("held", sorted(HELD))
def test_typeddict_held_by_an_importer(tmp_path: Path, warm_cache: WarmCache, mode: dict[str, str], held: str) -> None:
    """`mid` holds a TypedDict type of `defs` (in a variable, in a signature); `main` shows its keys.

    mypy shows them in the order of the source cold, sorted once `mid` comes
    from the cache (checked here, with `defs` checked again in memory); at
    `-n N`, `main` on a worker that did not check `mid` answers as mypy
    does cold.
    """
    mid, main, cold, warm = HELD[held]
    project = tmp_path / "project"
    project.mkdir()
    (project / "defs.py").write_text(MODULES["defs"])
    (project / "mid.py").write_text(mid)
    (project / "main.py").write_text(main)
    mypy_cache = tmp_path / "mypy"
    shutil.copytree(warm_cache([]), mypy_cache)
    reference = run_tool(MYPY, ["main.py"], project, mypy_cache, {})
    assert cold in reference.stdout and warm not in reference.stdout, reference.describe()
    (project / "main.py").write_text(main + "# edited\n")
    (project / "defs.py").write_text(MODULES["defs"] + "# edited\n")
    cached = run_tool(MYPY, ["main.py"], project, mypy_cache, {})
    assert warm in cached.stdout, cached.describe()
    (project / "main.py").write_text(main)
    (project / "defs.py").write_text(MODULES["defs"])
    check_main_at_worker_counts(tmp_path, warm_cache, project, reference, mode=mode, bases=("mid",))
