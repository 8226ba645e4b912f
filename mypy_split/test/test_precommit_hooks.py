"""`.pre-commit-hooks.yaml`: the hook exists, runs our entry point, and answers as mypy does.

pre-commit runs `ENTRY ARGS FILES...`; the last test does exactly that on a
small project and compares with `mypy ARGS FILES...` (minus `-n auto`).
The file is read by a small reader of the YAML subset it uses (a list of
flat mappings), so the test needs no YAML library.
"""

from __future__ import annotations

import importlib
import re
import shutil
from pathlib import Path

from mypy_split.test.conftest import WarmCache
from mypy_split.test.differential import BIN, MYPY, run_tool

ROOT = Path(__file__).resolve().parents[2]
Value = str | bool | list[str]


def read_hooks(text: str) -> list[dict[str, Value]]:
    hooks: list[dict[str, Value]] = []
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].rstrip()
        if not line or line.lstrip().startswith("#"):
            continue
        if line.startswith("- "):
            hooks.append({})
            line = "  " + line[2:]
        assert hooks and line.startswith("  ") and ": " in line, f"unexpected line: {raw!r}"
        key, value = line.strip().split(": ", 1)
        hooks[-1][key] = scalar_or_list(value.strip())
    return hooks


def scalar_or_list(value: str) -> Value:
    if value.startswith("[") and value.endswith("]"):
        return [str(scalar_or_list(item.strip())) for item in value[1:-1].split(",") if item.strip()]
    if value in ("true", "false"):
        return value == "true"
    return value.strip("\"'")


def the_hook() -> dict[str, Value]:
    hooks = read_hooks((ROOT / ".pre-commit-hooks.yaml").read_text())
    matching = [hook for hook in hooks if hook.get("id") == "mypy-split"]
    assert len(matching) == 1, hooks
    return matching[0]


def test_hook_runs_our_script_in_one_process() -> None:
    hook = the_hook()
    assert hook["language"] == "python"
    assert hook["require_serial"] is True
    assert hook["types_or"] == ["python", "pyi"]
    args = hook["args"]
    assert isinstance(args, list) and args[:2] == ["-n", "auto"]
    # The entry is a console script this distribution declares, and it imports.
    scripts = re.search(r"^\[project\.scripts\]\n((?:.+\n)+)", (ROOT / "pyproject.toml").read_text(), re.M)
    assert scripts is not None
    declared = dict(re.findall(r'^([\w-]+) = "([\w.:]+)"$', scripts.group(1), re.M))
    target = declared[str(hook["entry"])]
    module, function = target.split(":")
    assert callable(getattr(importlib.import_module(module), function))


def test_hook_command_answers_as_mypy(tmp_path: Path, warm_cache: WarmCache) -> None:
    hook = the_hook()
    args = hook["args"]
    assert isinstance(args, list)
    project = tmp_path / "project"
    project.mkdir()
    (project / "a.py").write_text("import requests_nowhere\nfrom b import f\nx: int = f()\n")
    (project / "b.py").write_text("def f() -> str:\n    return ''\n")
    files = ["a.py", "b.py"]
    mypy_args = [arg for arg in args if arg not in ("-n", "auto")]
    warm = warm_cache(mypy_args)
    caches = []
    for name in ("mypy", "hook"):
        caches.append(tmp_path / name)
        shutil.copytree(warm, caches[-1], symlinks=True)
    reference = run_tool(MYPY, [*mypy_args, *files], project, caches[0], {})
    ours = run_tool([str(BIN / str(hook["entry"]))], [*args, *files], project, caches[1], {})
    assert "Incompatible types" in reference.stdout, reference.describe()
    assert ours == reference, ours.describe()
