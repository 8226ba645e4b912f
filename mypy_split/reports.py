"""`--*-report DIR` at any worker count: the engine's report writers, fed across processes.

How mypy makes reports (mypy 2.4.1, `mypy/report.py`, compiled):
- Any report option disables reading the cache (`BuildManager.cache_enabled`
  is false when reporters exist): every module is stale and checked from
  source on every run, so there are no fresh modules to report from cache.
  The cache is still written.
- Each source file (`manager.source_set`, not followed imports) is passed to
  every reporter when its checking finishes (`State.finish_passes`), with its
  tree, its type map (alive only then, in the process that checked it), the
  options and `manager.modules` (import lines count as precise when the
  imported module is loaded; a worker has every dependency loaded).
- `on_file` keeps a small entry per file, and the xml and html reporters
  also write that file's page (`xml/PATH.xml`, `html/PATH.html`) at once.
  `on_finish` writes the rest from the entries: `linecount.txt`,
  `any-exprs.txt` + `types-of-anys.txt`, `coverage.json` (files in report
  order), `lineprecision.txt`, the xml/html/txt index pages, `cobertura.xml`
  (with a time stamp), and prints the "Generated ... report" lines.

How we do the same with workers: each worker runs the engine's own reporters
(so the per-file work is the engine's, with the type map where it exists),
pointed at a private folder per task.  After a task the worker takes the
entries out of its reporters (`WorkerReports`) and sends them with the
task's result; the coordinator, when its replay of mypy's sequential order
reaches that task, puts the entries into its own reporters and moves the
task's pages into the real folders (`merge_task`).  Its reporters' own
`on_finish` then writes every summary file, so the files are mypy's, in
mypy's order, and only what a sequential run would have written: a build
stopped by a blocker never shows the pages of tasks that came after it.
SCCs checked in the coordinator itself report into its reporters directly.
"""

from __future__ import annotations

import collections
import os
import shutil
import tempfile
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy.report import AbstractReporter, FileInfo, Reports

    # Imported where reports are gathered: a run without reports never pays for them.
    from mypy_split.report_records import CoberturaPackageData, FileCounts, TaskReports

# Every reporter mypy 2.4.1 registers: for each, `take_entries` and
# `put_entries` know its per-file state (the xml, html and txt reporters have
# none besides the pages they write).
SUPPORTED_REPORTS = frozenset({
    "linecount", "any-exprs", "linecoverage", "lineprecision", "memory-xml",
    "cobertura-xml", "xml", "xslt-html", "xslt-txt", "html", "txt",
})


def all_supported(report_dirs: dict[str, str]) -> bool:
    """Whether every requested report can be assembled from workers' entries."""
    return all(name in SUPPORTED_REPORTS for name in report_dirs)


def idle_dirs(report_dirs: dict[str, str], root: str) -> dict[str, str]:
    """Where a worker's reporters point before its first task (they create them)."""
    idle = os.path.join(root, f"idle-{os.getpid()}")
    return {name: os.path.join(idle, name) for name in report_dirs}


class WorkerReports:
    """A worker's reporters: a fresh output folder per task, entries taken after it."""

    def __init__(self, reports: Reports, names: list[str], root: str) -> None:
        self.reports = reports
        # The report names whose reporters write pages (the user's, not memory-xml's).
        self.names = names
        self.root = root
        self.folder = ""

    def begin_task(self, scc_id: int) -> None:
        self.folder = tempfile.mkdtemp(prefix=f"scc-{scc_id}-", dir=self.root)
        for name in self.names:
            self.reports.named_reporters[name].output_dir = os.path.join(self.folder, name)
        # A task that failed part-way may have left entries behind.
        take_entries(self.reports)

    def end_task(self) -> TaskReports:
        data = take_entries(self.reports)
        data.folder = self.folder
        return data


def take_entries(reports: Reports) -> TaskReports:
    """Move every reporter's per-file entries out of it, leaving it empty."""
    from mypy.report import (
        AnyExpressionsReporter,
        CoberturaXmlReporter,
        LineCountReporter,
        LineCoverageReporter,
        LinePrecisionReporter,
        MemoryXmlReporter,
    )

    from mypy_split.report_records import FileCounts, TaskReports

    data = TaskReports()
    for reporter in reports.reporters:
        if isinstance(reporter, LineCountReporter):
            data.line_counts = [(module, list(counts)) for module, counts in reporter.counts.items()]
            reporter.counts.clear()
        elif isinstance(reporter, AnyExpressionsReporter):
            data.any_exprs = [(module, list(counts)) for module, counts in reporter.counts.items()]
            data.types_of_anys = [
                (module, dict(counter)) for module, counter in reporter.any_types_counter.items()
            ]
            reporter.counts.clear()
            reporter.any_types_counter.clear()
        elif isinstance(reporter, LineCoverageReporter):
            data.covered_lines = [(path, list(lines)) for path, lines in reporter.lines_covered.items()]
            reporter.lines_covered.clear()
        elif isinstance(reporter, MemoryXmlReporter):
            data.xml_files = [FileCounts(f.name, f.module, list(f.counts)) for f in reporter.files]
            reporter.files.clear()
            reporter.last_xml = None
        elif isinstance(reporter, LinePrecisionReporter):
            data.precision_files = [FileCounts(f.name, f.module, list(f.counts)) for f in reporter.files]
            reporter.files.clear()
        elif isinstance(reporter, CoberturaXmlReporter):
            data.cobertura = take_cobertura(reporter)
    return data


def take_cobertura(reporter: AbstractReporter) -> list[CoberturaPackageData]:
    from mypy.report import CoberturaXmlReporter
    from mypy.report import etree  # type: ignore[attr-defined]  # the engine's own lxml

    from mypy_split.report_records import CoberturaPackageData

    assert isinstance(reporter, CoberturaXmlReporter)
    root = reporter.root_package
    packages = [
        CoberturaPackageData(
            name=package.name,
            total_lines=package.total_lines,
            covered_lines=package.covered_lines,
            classes=[
                (class_name, etree.tostring(element, encoding="unicode"))
                for class_name, element in package.classes.items()
            ],
        )
        for package in root.packages.values()
    ]
    root.packages.clear()
    root.total_lines = 0
    root.covered_lines = 0
    return packages


def merge_task(reports: Reports, data: TaskReports) -> None:
    """Put a task's entries into the coordinator's reporters and its pages into place."""
    put_entries(reports, data)
    if data.folder:
        move_pages(reports, data.folder)


def put_entries(reports: Reports, data: TaskReports) -> None:
    from mypy.report import (
        AnyExpressionsReporter,
        CoberturaXmlReporter,
        LineCountReporter,
        LineCoverageReporter,
        LinePrecisionReporter,
        MemoryXmlReporter,
    )

    for reporter in reports.reporters:
        if isinstance(reporter, LineCountReporter):
            for module, counts in data.line_counts:
                annotated_lines, lines, annotated_funcs, funcs = counts
                reporter.counts[module] = (annotated_lines, lines, annotated_funcs, funcs)
        elif isinstance(reporter, AnyExpressionsReporter):
            for module, counts in data.any_exprs:
                num_any, num_total = counts
                reporter.counts[module] = (num_any, num_total)
            for module, kinds in data.types_of_anys:
                reporter.any_types_counter[module] = collections.Counter(kinds)
        elif isinstance(reporter, LineCoverageReporter):
            for path, covered in data.covered_lines:
                reporter.lines_covered[path] = covered
        elif isinstance(reporter, MemoryXmlReporter):
            reporter.files.extend(file_info(entry) for entry in data.xml_files)
        elif isinstance(reporter, LinePrecisionReporter):
            reporter.files.extend(file_info(entry) for entry in data.precision_files)
        elif isinstance(reporter, CoberturaXmlReporter):
            put_cobertura(reporter, data.cobertura)


def file_info(entry: FileCounts) -> FileInfo:
    from mypy.report import FileInfo

    info = FileInfo(entry.name, entry.module)
    info.counts = list(entry.counts)
    return info


def put_cobertura(reporter: AbstractReporter, packages: list[CoberturaPackageData]) -> None:
    from mypy.report import CoberturaPackage, CoberturaXmlReporter
    from mypy.report import etree  # type: ignore[attr-defined]  # the engine's own lxml

    assert isinstance(reporter, CoberturaXmlReporter)
    root = reporter.root_package
    for data in packages:
        package = root.packages.get(data.name)
        if package is None:
            package = root.packages[data.name] = CoberturaPackage(data.name)
        # Each file adds its lines to its package and to the root package.
        for target in (root, package):
            target.total_lines += data.total_lines
            target.covered_lines += data.covered_lines
        for class_name, xml in data.classes:
            package.classes[class_name] = etree.fromstring(xml)


def move_pages(reports: Reports, folder: str) -> None:
    """Move the pages a task wrote (`folder/NAME/...`) into report NAME's folder."""
    for name in sorted(os.listdir(folder)):
        target_root = reports.named_reporters[name].output_dir
        source_root = os.path.join(folder, name)
        for parent, _, files in os.walk(source_root):
            relative = os.path.relpath(parent, source_root)
            target_dir = os.path.normpath(os.path.join(target_root, relative))
            os.makedirs(target_dir, exist_ok=True)
            for file_name in files:
                shutil.move(os.path.join(parent, file_name), os.path.join(target_dir, file_name))
    shutil.rmtree(folder, ignore_errors=True)
