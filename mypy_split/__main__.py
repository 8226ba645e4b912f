"""`python -m mypy_split`: the same entry point as the `mypy-split` command."""

from __future__ import annotations

from mypy_split.cli import console_entry

if __name__ == "__main__":
    console_entry()
