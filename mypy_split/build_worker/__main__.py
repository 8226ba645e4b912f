"""`python -m mypy_split.build_worker`: run one worker (the coordinator starts it)."""

from __future__ import annotations

from mypy_split.build_worker.worker import main

if __name__ == "__main__":
    main()
