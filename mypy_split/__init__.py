"""mypy-split: mypy's answer, computed across worker processes, interfaces first."""

from __future__ import annotations

__version__ = "0.1.0"
