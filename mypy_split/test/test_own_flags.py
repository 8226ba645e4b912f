"""Our own flags come out of argv; everything else stays for mypy, in order."""

from __future__ import annotations

import pytest

from mypy_split import own_flags
from mypy_split.own_flags import OwnFlagError, OwnFlags, split_own_flags


@pytest.mark.parametrize(
    "argv, flags, rest",
    [
        (["--output", "github", "a.py"], OwnFlags(output="github"), ["a.py"]),
        (["a.py", "--output=github"], OwnFlags(output="github"), ["a.py"]),
        (["-O", "github", "-n", "2"], OwnFlags(output="github"), ["-n", "2"]),
        (["-Ogithub"], OwnFlags(output="github"), []),
        # mypy's own formats (and a value mypy will reject in its own words) reach mypy.
        (["-O", "json", "a.py"], OwnFlags(), ["-O", "json", "a.py"]),
        (["--output=json"], OwnFlags(), ["--output=json"]),
        (["-Ojson"], OwnFlags(), ["-Ojson"]),
        (["--output", "xml"], OwnFlags(), ["--output", "xml"]),
        (["--output"], OwnFlags(), ["--output"]),
        (["--no-progress", "a.py"], OwnFlags(progress=False), ["a.py"]),
        (["--no-progress", "--progress"], OwnFlags(progress=True), []),
        (["--stats", "--trace", "t.json", "a.py"], OwnFlags(trace="t.json", stats=True), ["a.py"]),
        (["--trace=t.json"], OwnFlags(trace="t.json"), []),
        # Program text and file names after `--` are never flags.
        (["-c", "--no-progress", "--strict"], OwnFlags(), ["-c", "--no-progress", "--strict"]),
        (["--command", "--output", "github"], OwnFlags(), ["--command", "--output", "github"]),
        (["--", "--no-progress", "--output", "github"], OwnFlags(), ["--", "--no-progress", "--output", "github"]),
        (["--version", "--no-progress"], OwnFlags(progress=False), ["--version"]),
    ],
)
def test_split(argv: list[str], flags: OwnFlags, rest: list[str]) -> None:
    assert split_own_flags(argv) == (flags, rest)


def test_a_flag_only_we_have_needs_its_value(monkeypatch: pytest.MonkeyPatch) -> None:
    # The way a flag such as `--trace FILE` is added; `--output` alone is left to mypy.
    only_ours = own_flags.ValueFlag(lambda flags, value: flags._replace(output=value))
    monkeypatch.setitem(own_flags._WITH_VALUE, "--ours", only_ours)
    assert split_own_flags(["--ours=x", "a.py"]) == (OwnFlags(output="x"), ["a.py"])
    with pytest.raises(OwnFlagError, match="argument --ours: expected one argument"):
        split_own_flags(["a.py", "--ours"])
