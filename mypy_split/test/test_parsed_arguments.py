"""A forked worker starts from the coordinator's parsed command line instead of parsing it again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import mypy.main
import pytest
from mypy.fscache import FileSystemCache

from mypy_split import parsed_arguments
from mypy_split.build_worker.session import WorkerSession
from mypy_split.task_messages import hello_for

ARGV = ["--strict", "-p", "pkg"]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "a.py").write_text("x: int = 1\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MYPY_CACHE_DIR", str(tmp_path / "cache"))
    yield tmp_path
    parsed_arguments.forget()


def parse(argv: list[str]) -> tuple[list[tuple[str | None, str]], dict[str, object]]:
    sources, options = mypy.main.process_options(list(argv), fscache=FileSystemCache())
    parsed_arguments.keep(argv, str(Path.cwd()), sources, options)
    return [(s.path, s.module) for s in sources], options.snapshot()


def refuse_to_parse(*args: object, **kwargs: object) -> object:
    raise AssertionError("parsed the arguments again")


def test_a_kept_parse_is_handed_out_as_a_private_copy(project: Path) -> None:
    sources, snapshot = parse(ARGV)
    first = parsed_arguments.take(ARGV, str(project))
    assert first is not None
    assert [(s.path, s.module) for s in first[0]] == sources
    assert first[1].snapshot() == snapshot
    first[1].strict_optional = False
    first[1].per_module_options["pkg.a"] = {"ignore_errors": True}
    second = parsed_arguments.take(ARGV, str(project))
    assert second is not None and second[1].snapshot() == snapshot


def test_nothing_is_handed_out_for_other_arguments_or_another_folder(project: Path) -> None:
    assert parsed_arguments.take(ARGV, str(project)) is None
    parse(ARGV)
    assert parsed_arguments.take(["-p", "pkg"], str(project)) is None
    assert parsed_arguments.take(ARGV, str(project / "pkg")) is None
    parsed_arguments.forget()
    assert parsed_arguments.take(ARGV, str(project)) is None


def test_options_that_cannot_be_copied_are_not_kept(project: Path) -> None:
    parse(ARGV)
    sources, options = mypy.main.process_options(list(ARGV), fscache=FileSystemCache())
    options.per_module_options["pkg"] = {"unpicklable": (n for n in range(3))}
    parsed_arguments.keep(ARGV, str(project), sources, options)
    assert parsed_arguments.take(ARGV, str(project)) is None


def test_a_worker_starts_from_the_kept_parse(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sources, snapshot = parse(ARGV)
    monkeypatch.setattr(mypy.main, "process_options", refuse_to_parse)
    session = WorkerSession.start(hello_for(ARGV, str(project), None))
    options = session.manager.options
    assert options.num_workers == 0
    assert sorted(session.manager.source_set.source_modules.items()) == sorted(
        (module, path) for path, module in sources
    )
    assert options.snapshot() == {**snapshot, "num_workers": 0}


def test_a_worker_parses_arguments_it_was_not_made_from(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parse(["-p", "pkg"])
    calls: list[list[str]] = []
    real = mypy.main.process_options

    def counting(argv: list[str], **kwargs: object) -> object:
        calls.append(list(argv))
        return real(argv, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(mypy.main, "process_options", counting)
    session = WorkerSession.start(hello_for(ARGV, str(project), None))
    assert calls == [ARGV]
    assert session.manager.options.strict_optional and session.manager.options.disallow_untyped_defs
