"""`--output github`: golden escaping, and line-for-line agreement with mypy's text.

The differential tests run `mypy` with positions shown in full
(`--show-column-numbers --show-error-end`), turn each of its lines into the
workflow command it stands for (here in the test, by pattern), and require
mypy-split's `--output github` to print exactly those commands, in order, at
-n 0 and -n 2, with mypy's summary on stderr and mypy's exit code.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from mypy_split.github import escape_data, escape_property, workflow_command
from mypy_split.test.conftest import WarmCache
from mypy_split.test.differential import MYPY, MYPY_SPLIT, run_tool

# -- golden ------------------------------------------------------------------------


def test_escape_data() -> None:
    assert escape_data("100% sure:\r\nnext, line") == "100%25 sure:%0D%0Anext, line"


def test_escape_property() -> None:
    assert escape_property("a:b,c%d\ne\r") == "a%3Ab%2Cc%25d%0Ae%0D"


def test_escape_percent_first() -> None:
    # An escape's own `%` must not be escaped again.
    assert escape_data("%0A") == "%250A"


@pytest.mark.parametrize(
    "error, command",
    [
        (
            ("pkg/m,od.py", 3, 4, 3, 9, "error", 'Bad "x": 50%\nsee', "arg-type"),
            "::error file=pkg/m%2Cod.py,line=3,col=5,endLine=3,endColumn=9,title=arg-type::"
            'Bad "x": 50%25%0Asee',
        ),
        # A note keeps its own position; its code is not shown (as in the text output).
        (
            ("a.py", 3, 4, 3, 9, "note", "Possible overload variants:", "call-overload"),
            "::notice file=a.py,line=3,col=5,endLine=3,endColumn=9::Possible overload variants:",
        ),
        # ... except the codes mypy shows on notes.
        (
            ("a.py", 2, 0, 2, 5, "note", "By default the bodies ...", "annotation-unchecked"),
            "::notice file=a.py,line=2,col=1,endLine=2,endColumn=5,title=annotation-unchecked::"
            "By default the bodies ...",
        ),
        # An error over several lines: no endColumn (GitHub ignores it across lines).
        (
            ("a.py", 5, 4, 7, 10, "error", "No overload", "operator"),
            "::error file=a.py,line=5,col=5,endLine=7,title=operator::No overload",
        ),
        # No column: no col nor endColumn; no line: no position at all.
        (("a.py", 5, -1, 5, -1, "error", "m", None), "::error file=a.py,line=5,endLine=5::m"),
        (("a.py", -1, -1, -1, -1, "note", 'In function "f":', None), '::notice file=a.py::In function "f":'),
        # No file (an import context note): only the message.
        (
            (None, -1, -1, -1, -1, "note", "b.py:1: note: In module imported here:", None),
            "::notice::b.py:1: note: In module imported here:",
        ),
        (("a:b.py", 1, 0, 1, 1, "warning", "w", "c:d,e"), "::warning file=a%3Ab.py,line=1,col=1,endLine=1,endColumn=1,title=c%3Ad%2Ce::w"),
    ],
)
def test_workflow_command(error: tuple[str | None, int, int, int, int, str, str, str | None], command: str) -> None:
    assert workflow_command(error) == command


def test_hidden_codes_have_no_title() -> None:
    command = workflow_command(("a.py", 1, 0, 1, 1, "error", "m", "misc"), show_codes=False)
    assert command == "::error file=a.py,line=1,col=1,endLine=1,endColumn=1::m"


# -- differential ------------------------------------------------------------------

_FULL_POSITION = ["--show-column-numbers", "--show-error-end"]
_LINE = re.compile(
    r"^(?P<file>[^:]+?)(?::(?P<line>\d+):(?P<col>\d+)(?::(?P<end_line>\d+):(?P<end_col>\d+))?)?: "
    r"(?P<severity>error|note): (?P<message>.*?)(?:  \[(?P<code>[a-z-]+)\])?$"
)

PROJECT = {
    "main.py": """\
import missing_one
from pkg import a
from typing import overload

@overload
def conv(x: int) -> int: ...
@overload
def conv(x: str) -> str: ...
def conv(x: int | str) -> int | str:
    return x

conv(1.5)
reveal_type("50%: a,b")
a.f(1)

def g() -> None:
    y: int = "s"
""",
    "pkg/__init__.py": "",
    "pkg/a.py": """\
from pkg import b
import missing_two

def f(x: str) -> None:
    b.h(x)
""",
    "pkg/b.py": """\
from pkg import a

def h(x: int) -> int:
    return a.f("x")
""",
}

BLOCKER = {
    "main.py": "import broken\nimport missing_one\nx: int = 'a'\n",
    "broken.py": "def f(:\n    pass\n",
    "other.py": "import missing_two\n",
}


def expected_command(text_line: str) -> str:
    """The workflow command that one line of mypy's text output stands for."""
    match = _LINE.match(text_line)
    assert match is not None, text_line
    line = int(match["line"]) if match["line"] else -1
    column = int(match["col"]) - 1 if match["col"] else -1
    end_line = int(match["end_line"]) if match["end_line"] else -1
    end_column = int(match["end_col"]) if match["end_col"] else -1
    error = (match["file"], line, column, end_line, end_column, match["severity"], match["message"], match["code"])
    return workflow_command(error)


@pytest.mark.parametrize("project, targets", [(PROJECT, ["main.py"]), (BLOCKER, ["main.py", "other.py"])])
def test_lines_match_mypy_text(
    project: dict[str, str], targets: list[str], tmp_path: Path, warm_cache: WarmCache
) -> None:
    """Cold, then after an edit of main.py alone (the other modules' errors come from the cache)."""
    root = tmp_path / "project"
    for name, text in project.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    caches = {name: copy_cache(warm_cache, tmp_path, name) for name in ("mypy", "0", "2")}
    for step in ("cold", "edited"):
        if step == "edited":
            with open(root / "main.py", "a") as main:
                main.write("z: str = 1\n")
        reference = run_tool(MYPY, [*targets, *_FULL_POSITION], root, caches["mypy"], {})
        *lines, summary = reference.stdout.splitlines()
        assert lines and summary.startswith("Found"), reference.describe()
        expected = [expected_command(line) for line in lines]
        for workers in ("0", "2"):
            args = [*targets, "--output", "github", "-n", workers]
            ours = run_tool(MYPY_SPLIT, args, root, caches[workers], {})
            label = f"{step}, -n {workers}"
            assert ours.stdout.splitlines() == expected, label + "\n" + ours.describe()
            assert ours.stderr == summary + "\n" + reference.stderr, label + "\n" + ours.describe()
            assert ours.returncode == reference.returncode, label


def copy_cache(warm_cache: WarmCache, tmp_path: Path, name: str) -> Path:
    target = tmp_path / name
    shutil.copytree(warm_cache([]), target, symlinks=True)
    return target
