"""The coordinator's printing of workers' results: mypy's lines, and no source read for a clean module."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from mypy.errors import Errors
from mypy.options import Options

from mypy_split.phases import ModuleErrors
from mypy_split.protocol import ErrorRecord, ImplementationDone
from mypy_split.result_printer import ResultPrinter


def printer_with_pretty_errors(reads: list[str], shown: list[ModuleErrors]) -> ResultPrinter:
    options = Options()
    options.pretty = True

    def read_source(path: str) -> list[str]:
        reads.append(path)
        return ["x: int = ''\n"]

    manager: Any = SimpleNamespace(errors=Errors(options, read_source=read_source), error_formatter=None)
    graph: Any = {"clean": SimpleNamespace(xpath="clean.py"), "dirty": SimpleNamespace(xpath="dirty.py")}
    return ResultPrinter(graph, manager, shown.append, {})


def test_a_clean_module_is_flushed_without_reading_its_source() -> None:
    reads: list[str] = []
    shown: list[ModuleErrors] = []
    printer = printer_with_pretty_errors(reads, shown)
    error = ErrorRecord("dirty.py", 1, 9, 1, 11, "error", "Incompatible types in assignment", "assignment")
    printer.print_result(ImplementationDone(3, {"clean": [], "dirty": [error]}, [], 0.1))

    assert reads == ["dirty.py"]
    assert [module.path for module in shown] == ["clean.py", "dirty.py"]
    assert shown[0].lines == []
    assert shown[1].lines[0] == "dirty.py:1: error: Incompatible types in assignment  [assignment]"
    # The pretty form: the source line under the message, as mypy prints it.
    assert shown[1].lines[1].strip() == "x: int = ''"
    assert printer.manager.errors.flushed_files == {"clean.py", "dirty.py"}
