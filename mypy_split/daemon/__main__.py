"""`python -m mypy_split.daemon`: the `dmypy-split` command."""

from mypy_split.daemon.client import console_entry

if __name__ == "__main__":
    console_entry()
