"""Real corpora for mypy-split: set them up, check them, compare the answers.

A corpus is real code checked the way its users check it: mypy's own self
check (from the engine's sdist) and packages from the index (rich, click,
attrs, pytest, textual, trio, httpx, requests, flask, pydantic, sqlalchemy,
fastapi, aiohttp, black, hypothesis, libcst, marshmallow), each in a
virtual environment of its own;
plus three synthetic projects from `misc/gen_project.py` (tiny, cycle,
chain), which need no network.  Everything lives under `misc/.corpora/`,
which git ignores.

    python misc/corpora.py prepare [--corpora a,b]   # download, install, generate; once
    python misc/corpora.py show             # where each corpus runs, and how
    python misc/corpora.py compare [--workers 0,1,2] [--repeat K] [--corpora a,b]

`compare` runs `mypy -n 0` and `mypy-split -n N` on each corpus, each tool on
a cache of its own, through the steps a user goes through: cold (empty
cache), warm (a second run), a one-line edit of a function body, and after
the warm and edit steps it crosses the caches: `mypy` on a copy of
mypy-split's cache, and mypy-split on a copy of mypy's, must print what `mypy`
prints on a copy of its own and find nothing stale.  After the cold and edit
steps ("entries", "entries-edit") each module's cache entries must hold what
mypy's hold, field by field, but for interface hashes (and the hashes that
importers record of them): those can differ by nature (README, "The cache it
leaves"), and how many did is printed as the steps run.  It prints a table of
identical/different counts and the diff of every difference.

`misc/perf_compare.py` times the same corpora and steps.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from mypy_split.test.differential import entry_differences, entry_fields
from mypy_split.tuning import USABLE_CPUS_VARIABLE

sys.path.insert(0, str(Path(__file__).resolve().parent))  # our neighbours, also under PYTHONSAFEPATH

import edits  # noqa: E402
import gen_project  # noqa: E402

HERE = Path(__file__).resolve().parent
CORPORA = HERE / ".corpora"
SCRATCH = CORPORA / "scratch"
# The tools are the console scripts beside this interpreter: inside the sdist
# folder, `python -m mypy` would import the interpreted sources in the cwd.
BIN = Path(sys.executable).parent
ENGINE_VERSION = metadata.version("mypy")
TIMEOUT = 900

# Marks a finished `prepare` step, so that an interrupted one is redone.
DONE_MARK = ".prepared"

# `-v` lines showing an SCC was scheduled for checking rather than found fresh.
STALE_LOG = re.compile(r"Scheduling SCC .* as (inherently stale|stale due to)")


@dataclass(frozen=True)
class Tool:
    """One command under test: `mypy -n N` (upstream) or `mypy-split -n N`; N may be `auto`."""

    kind: str  # "mypy" or "split"
    workers: int | str
    # Extra environment variables (a tuning knob under test), as NAME=VALUE.
    env: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        extra = "".join(f" {setting}" for setting in self.env)
        return f"{self.script} -n {self.workers}{extra}"

    @property
    def slug(self) -> str:
        """A name for the tool's folders."""
        extra = "".join(f"-{re.sub(r'[^A-Za-z0-9]+', '_', setting)}" for setting in self.env)
        return f"{self.kind}-{self.workers}{extra}"

    @property
    def script(self) -> str:
        return "mypy" if self.kind == "mypy" else "mypy-split"

    def argv(self) -> list[str]:
        return [str(BIN / self.script), "-n", str(self.workers)]


REFERENCE = Tool("mypy", 0)


def compared_tool(workers: int) -> Tool:
    """mypy-split with exactly this many workers, whatever the CPUs here: the comparison is about answers."""
    return Tool("split", workers, (f"{USABLE_CPUS_VARIABLE}={workers}",))


def parse_tool(text: str) -> Tool:
    """`mypy:2`, `split:0` or `split:auto`, each optionally with `+NAME=VALUE` settings."""
    spec, *settings = text.split("+")
    kind, _, workers = spec.partition(":")
    if kind not in ("mypy", "split") or not (workers.isdigit() or workers == "auto"):
        raise argparse.ArgumentTypeError(f"bad tool {text!r}: expected mypy:N or split:N (N a count or auto)")
    if any(not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", setting) for setting in settings):
        raise argparse.ArgumentTypeError(f"bad tool {text!r}: settings are +NAME=VALUE")
    return Tool(kind, workers if workers == "auto" else int(workers), tuple(settings))


@dataclass(frozen=True)
class Corpus:
    """Where a corpus is checked, with which arguments, and which files the edits touch.

    `roots` are the package folders of the checked code, where benchmarks
    look for a leaf and a core module to edit.
    """

    name: str
    cwd: Path
    args: tuple[str, ...]
    edit_file: Path
    roots: tuple[Path, ...] = ()

    def command(self, tool: Tool, extra: Sequence[str] = ()) -> list[str]:
        # The worker count goes last, so it overrides a config file's num_workers.
        return [*tool.argv()[:1], *self.args, *extra, *tool.argv()[1:]]

    def is_prepared(self) -> bool:
        return (self.cwd / DONE_MARK).exists() and self.edit_file.exists()


@dataclass(frozen=True)
class Package:
    """A package from the index, pinned with its dependencies, checked with `-p`."""

    name: str
    requirements: tuple[str, ...]
    modules: tuple[str, ...]
    # A module whose function bodies nothing else depends on (a leaf where possible).
    edit_module: str


PACKAGES = (
    Package(
        "rich",
        ("rich==15.0.0", "markdown-it-py==4.3.0", "mdurl==0.1.2", "pygments==2.21.0"),
        ("rich",),
        "rich/layout.py",
    ),
    Package("click", ("click==8.5.1",), ("click",), "click/testing.py"),
    Package("attrs", ("attrs==26.1.0",), ("attr", "attrs"), "attr/filters.py"),
    Package(
        "pytest",
        ("pytest==9.2.0", "iniconfig==2.3.1", "packaging==26.4", "pluggy==1.7.0", "pygments==2.21.0"),
        ("_pytest", "pytest"),
        "_pytest/pastebin.py",
    ),
    Package(
        "textual",
        (
            "textual==8.2.8", "rich==15.0.0", "markdown-it-py==4.3.0", "mdit-py-plugins==0.7.0",
            "linkify-it-py==2.2.0", "mdurl==0.1.2", "platformdirs==4.14.8", "pygments==2.21.0",
            "typing-extensions==4.16.0",
        ),
        ("textual",),
        "textual/demo/home.py",
    ),
    Package(
        "trio",
        (
            "trio==0.35.0", "attrs==26.1.0", "idna==3.20", "outcome==1.3.0.post0", "sniffio==1.3.1",
            "sortedcontainers==2.4.0",
        ),
        ("trio",),
        "trio/_dtls.py",
    ),
    Package(
        "httpx",
        (
            "httpx==0.28.1", "httpcore==1.0.9", "anyio==4.16.0", "h11==0.16.0", "idna==3.20",
            "certifi==2026.10.19.post1", "sniffio==1.3.1", "typing-extensions==4.16.0",
        ),
        ("httpx", "httpcore", "anyio"),
        "httpx/_main.py",
    ),
    Package(
        "requests",
        (
            "requests==2.34.2", "urllib3==2.8.0", "idna==3.20", "certifi==2026.10.19.post1",
            "charset-normalizer==3.5.3",
        ),
        ("requests", "urllib3"),
        "requests/help.py",
    ),
    Package(
        "flask",
        (
            "flask==3.1.3", "werkzeug==3.1.9", "jinja2==3.1.6", "markupsafe==3.0.4", "itsdangerous==2.2.0",
            "blinker==1.9.0", "click==8.5.1",
        ),
        ("flask", "werkzeug", "jinja2"),
        "flask/debughelpers.py",
    ),
    Package(
        "pydantic",
        (
            "pydantic==2.14.4", "pydantic-core==2.50.5", "typing-inspection==0.4.5", "annotated-types==0.8.0",
            "typing-extensions==4.16.0",
        ),
        ("pydantic",),
        "pydantic/color.py",
    ),
    Package(
        "sqlalchemy",
        ("sqlalchemy==2.1.9", "greenlet==3.5.6", "typing-extensions==4.16.0"),
        ("sqlalchemy",),
        "sqlalchemy/util/tool_support.py",
    ),
    Package(
        "fastapi",
        (
            "fastapi==0.165.0", "starlette==1.10.0", "pydantic==2.14.4", "pydantic-core==2.50.5",
            "typing-inspection==0.4.5", "annotated-types==0.8.0", "anyio==4.16.0", "idna==3.20", "sniffio==1.3.1",
            "typing-extensions==4.16.0",
        ),
        ("fastapi", "starlette"),
        "fastapi/encoders.py",
    ),
    Package(
        "aiohttp",
        (
            "aiohttp==3.14.5", "multidict==7.2.1", "yarl==1.25.1", "frozenlist==1.8.0", "aiosignal==1.4.0",
            "propcache==0.5.4", "aiohappyeyeballs==2.7.1", "attrs==26.1.0", "idna==3.20",
            "typing-extensions==4.16.0",
        ),
        ("aiohttp",),
        "aiohttp/tracing.py",
    ),
    Package(
        "black",
        (
            "black==26.10.1", "click==8.5.1", "mypy-extensions==1.2.0", "packaging==26.4", "pathspec==1.1.1",
            "platformdirs==4.14.8",
        ),
        ("black",),
        "black/report.py",
    ),
    Package(
        "hypothesis",
        ("hypothesis==6.170.17", "sortedcontainers==2.4.0", "attrs==26.1.0"),
        ("hypothesis",),
        "hypothesis/reporting.py",
    ),
    Package(
        "libcst",
        ("libcst==1.9.0", "pyyaml==6.0.4", "typing-extensions==4.16.0"),
        ("libcst",),
        "libcst/helpers/common.py",
    ),
    Package("marshmallow", ("marshmallow==4.4.0",), ("marshmallow",), "marshmallow/utils.py"),
    Package("cattrs", ("cattrs==26.2.1", "attrs==26.1.0", "typing-extensions==4.16.0"), ("cattrs",), "cattrs/v.py"),
    Package("prompt_toolkit", ("prompt-toolkit==3.0.53", "wcwidth==0.9.4"), ("prompt_toolkit",), "prompt_toolkit/patch_stdout.py"),
    Package("structlog", ("structlog==26.1.0",), ("structlog",), "structlog/_frames.py"),
    Package(
        "jsonschema",
        (
            "jsonschema==4.26.0", "referencing==0.37.0", "jsonschema-specifications==2025.9.1", "rpds-py==2026.9.1",
            "attrs==26.1.0", "typing-extensions==4.16.0",
        ),
        ("jsonschema", "referencing"),
        "jsonschema/cli.py",
    ),
    Package("more_itertools", ("more-itertools==11.2.1",), ("more_itertools",), "more_itertools/recipes.py"),
    Package(
        "openai",
        (
            "openai==3.57.0", "httpx==0.28.1", "httpcore==1.0.9", "anyio==4.16.0", "h11==0.16.0", "idna==3.20",
            "certifi==2026.10.19.post1", "sniffio==1.3.1", "distro==1.9.0", "jiter==0.19.0", "tqdm==4.70.1",
            "pydantic==2.14.4", "pydantic-core==2.50.5", "typing-inspection==0.4.5", "annotated-types==0.8.0",
            "typing-extensions==4.16.0",
        ),
        ("openai",),
        "openai/_extras/_common.py",
    ),
    Package(
        "boto3_s3",
        (
            "mypy-boto3-s3==1.43.106", "botocore-stubs==1.43.126", "types-s3transfer==0.19.3",
            "types-awscrt==0.37.0", "typing-extensions==4.16.0",
        ),
        ("mypy_boto3_s3",),
        "mypy_boto3_s3/__main__.py",
    ),
    Package("numpy", ("numpy==2.4.6",), ("numpy",), "numpy/_utils/_inspect.py"),
)

# Generated by misc/gen_project.py (seed 0, scale 1); no download needed.
SYNTHETIC = gen_project.KINDS


# ---------------------------------------------------------------- the corpora


def self_check_dir() -> Path:
    return CORPORA / "selfcheck"


def sdist_dir() -> Path:
    return self_check_dir() / f"mypy-{ENGINE_VERSION}"


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def site_packages(venv: Path) -> Path:
    found = sorted(venv.glob("lib/python3*/site-packages"))
    return found[0] if found else venv / "lib" / "site-packages"


def self_check_corpus() -> Corpus:
    # mypy's own config; it asks for 4 workers, which the command's later `-n` overrides.
    config = ("--config-file", "mypy_self_check.ini")
    python = ("--python-executable", str(venv_python(self_check_dir() / "venv")))
    return Corpus(
        "selfcheck",
        sdist_dir(),
        (*config, *python, "-p", "mypy", "-p", "mypyc"),
        sdist_dir() / "mypy" / "test" / "testcheck.py",
        (sdist_dir() / "mypy", sdist_dir() / "mypyc"),
    )


def package_corpus(package: Package) -> Corpus:
    home = CORPORA / package.name
    venv = home / "venv"
    modules = [arg for module in package.modules for arg in ("-p", module)]
    # An explicit, empty config: no file from the folders above may change the flags.
    return Corpus(
        package.name,
        home,
        ("--config-file", "mypy.ini", "--python-executable", str(venv_python(venv)), *modules),
        site_packages(venv) / package.edit_module,
        tuple(site_packages(venv) / module for module in package.modules),
    )


def synthetic_corpus(kind: str) -> Corpus:
    home = CORPORA / kind
    package = home / f"synth_{kind}"
    # The generated mypy.ini turns off site-packages: the project is all there is.
    return Corpus(kind, home, ("--config-file", "mypy.ini", "-p", package.name), package / "main.py", (package,))


def all_corpora() -> list[Corpus]:
    return [
        self_check_corpus(),
        *(package_corpus(package) for package in PACKAGES),
        *(synthetic_corpus(kind) for kind in SYNTHETIC),
    ]


def select_corpora(names: str | None, prepared: bool = True) -> list[Corpus]:
    """The named corpora (all by default); with `prepared`, exit unless each is prepared."""
    corpora = all_corpora()
    if names:
        wanted = names.split(",")
        unknown = set(wanted) - {corpus.name for corpus in corpora}
        if unknown:
            known = ", ".join(corpus.name for corpus in corpora)
            sys.exit(f"unknown corpora: {', '.join(sorted(unknown))} (known: {known})")
        corpora = [corpus for corpus in corpora if corpus.name in wanted]
    missing = [corpus.name for corpus in corpora if not corpus.is_prepared()]
    if prepared and missing:
        sys.exit(f"not prepared: {', '.join(missing)}; run `python misc/corpora.py prepare --corpora {','.join(missing)}`")
    return corpora


# ---------------------------------------------------------------- prepare


class PrepareFailed(Exception):
    """A step of `prepare` failed; the message says which and the likely cause."""


def call(argv: list[str], cwd: Path | None = None) -> None:
    print("+", " ".join(argv), file=sys.stderr)
    try:
        subprocess.run(argv, cwd=cwd, check=True)
    except subprocess.CalledProcessError as error:
        hint = " (is the package index reachable?)" if "pip" in argv else ""
        raise PrepareFailed(f"`{' '.join(argv[:6])} ...` failed with exit {error.returncode}{hint}") from None
    except OSError as error:
        raise PrepareFailed(f"cannot run {argv[0]}: {error}") from None


def make_venv(venv: Path, requirements: list[str]) -> None:
    if venv.exists():
        shutil.rmtree(venv)
    call([sys.executable, "-m", "venv", str(venv)])
    pip = [str(venv_python(venv)), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    call([*pip, *requirements])


def prepare_self_check() -> None:
    """The engine's sdist, and a venv with what its self check imports.

    `--no-binary mypy` rather than `:all:`: pip builds the sdist's metadata,
    and with `:all:` it would also build every build dependency from source.
    """
    home = self_check_dir()
    if (sdist_dir() / DONE_MARK).exists():
        return
    downloads = CORPORA / "downloads"
    archive = downloads / f"mypy-{ENGINE_VERSION}.tar.gz"
    if not archive.exists():
        call([
            sys.executable, "-m", "pip", "download", f"mypy=={ENGINE_VERSION}",
            "--no-binary", "mypy", "--no-deps", "--disable-pip-version-check", "-d", str(downloads),
        ])
    if sdist_dir().exists():
        shutil.rmtree(sdist_dir())
    home.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        tar.extractall(home, filter="data")
    # mypy's own pinned test environment: the self check imports pytest, lxml, psutil...
    make_venv(home / "venv", ["-r", str(sdist_dir() / "test-requirements.txt")])
    (sdist_dir() / DONE_MARK).write_text("")


def prepare_package(package: Package) -> None:
    home = CORPORA / package.name
    if (home / DONE_MARK).exists():
        return
    home.mkdir(parents=True, exist_ok=True)
    make_venv(home / "venv", list(package.requirements))
    (home / "mypy.ini").write_text("[mypy]\n")
    (home / DONE_MARK).write_text("")


def prepare_synthetic(kind: str) -> None:
    home = CORPORA / kind
    if (home / DONE_MARK).exists():
        return
    gen_project.generate(kind, home)
    (home / DONE_MARK).write_text("")


def prepare_one(name: str) -> Corpus:
    if name == "selfcheck":
        prepare_self_check()
    elif name in SYNTHETIC:
        prepare_synthetic(name)
    else:
        prepare_package(next(package for package in PACKAGES if package.name == name))
    # Paths inside a venv are known only once it exists.
    corpus = next(corpus for corpus in all_corpora() if corpus.name == name)
    # Fails now, not in the middle of a comparison, if no body can be edited.
    try:
        edits.with_body_edit(corpus.edit_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise PrepareFailed(f"cannot edit {corpus.edit_file}: {error}") from None
    return corpus


def prepare(corpora: list[Corpus]) -> int:
    """Prepare each corpus; one that fails (no network, say) does not stop the others."""
    failed = []
    for corpus in corpora:
        try:
            corpus = prepare_one(corpus.name)
        except PrepareFailed as error:
            print(f"{corpus.name}: NOT prepared: {error}", file=sys.stderr)
            failed.append(corpus.name)
            continue
        print(f"{corpus.name}: ready in {corpus.cwd}")
    if failed:
        print(f"not prepared: {', '.join(failed)}; the others are usable", file=sys.stderr)
    return 1 if failed else 0


# ---------------------------------------------------------------- running


@dataclass(frozen=True)
class Outcome:
    """What a user sees: stdout, stderr and the exit code."""

    stdout: str
    stderr: str
    returncode: int

    def describe(self) -> str:
        status = f"exit {self.returncode}"
        if self.returncode < 0:
            status += f" (killed by signal {-self.returncode})"
        return f"{status}\n--- stdout\n{self.stdout}--- stderr\n{self.stderr}"

    def without_log(self) -> Outcome:
        """Drop what `-v` adds, which is not part of the answer."""
        lines = self.stderr.splitlines(keepends=True)
        kept = [line for line in lines if not line.startswith(("LOG:", "TRACE:"))]
        return Outcome(self.stdout, "".join(kept), self.returncode)

    def stale_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if STALE_LOG.search(line)]


def tool_env(cache: Path, tool: Tool | None = None) -> dict[str, str]:
    """The caller's environment, less what would change the answer, plus the cache dir.

    PYTHONSAFEPATH keeps the cwd off sys.path: in the sdist folder the
    processes (mypy's workers included) must import the installed wheel.
    """
    env = dict(os.environ)
    for name in ("MYPY_FORCE_COLOR", "MYPY_NUM_WORKERS", "MYPYPATH"):
        env.pop(name, None)
    env.update({"MYPY_CACHE_DIR": str(cache), "PYTHONSAFEPATH": "1", "TERM": "dumb"})
    for setting in tool.env if tool is not None else ():
        name, _, value = setting.partition("=")
        env[name] = value
    return env


def run(corpus: Corpus, tool: Tool, cache: Path, extra: Sequence[str] = ()) -> Outcome:
    """Run one tool to its end; a hung one is killed and shows up as a difference."""
    try:
        completed = subprocess.run(
            corpus.command(tool, extra),
            cwd=corpus.cwd,
            env=tool_env(cache, tool),
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
    except subprocess.TimeoutExpired as error:
        note = f"[misc/corpora.py: killed after {TIMEOUT} s]\n"
        return Outcome(as_text(error.stdout), as_text(error.stderr) + note, -9)
    return Outcome(completed.stdout, completed.stderr, completed.returncode)


def as_text(output: str | bytes | None) -> str:
    if isinstance(output, bytes):
        return output.decode("utf-8", "replace")
    return output or ""


def copy_cache(source: Path, target: Path) -> Path:
    if target.exists():
        shutil.rmtree(target)
    if source.exists():
        shutil.copytree(source, target, symlinks=True)
    return target


# ---------------------------------------------------------------- compare

SCENARIOS = ("cold", "entries", "warm", "cross", "edit", "entries-edit", "cross-edit")
# Fields of cache entries that differ by nature where the engine numbers fresh type variables.
NUMBERED_BY_PROCESS = ("interface_hash", "dep_hashes")


@dataclass
class Tally:
    """Identical/different counts per (corpus, scenario, workers), and the diffs."""

    counts: dict[tuple[str, str, int], list[int]] = field(default_factory=dict)
    diffs: list[str] = field(default_factory=list)

    def add(self, corpus: str, scenario: str, workers: int, difference: str | None) -> None:
        counts = self.counts.setdefault((corpus, scenario, workers), [0, 0])
        counts[0 if difference is None else 1] += 1
        if difference is not None:
            self.diffs.append(f"=== {corpus} / {scenario} / mypy-split -n {workers}\n{difference}")


def difference(
    expected: Outcome, actual: Outcome, what: str = "mypy", against: str = "mypy-split"
) -> str | None:
    if expected == actual:
        return None
    lines = difflib.unified_diff(
        expected.describe().splitlines(), actual.describe().splitlines(), what, against, lineterm=""
    )
    shown = list(lines)
    if len(shown) > 80:
        shown = [*shown[:80], f"... {len(shown) - 80} more diff lines"]
    return "\n".join(shown)


def cross_difference(
    corpus: Corpus, workers: int, mypy_cache: Path, split_cache: Path, scratch: Path
) -> str | None:
    """Each tool on a copy of the other's cache answers as mypy on its own, with nothing stale."""
    reference = run(corpus, REFERENCE, copy_cache(mypy_cache, scratch / "cross"), ["-v"])
    problems = [f"mypy on its own cache: {line}" for line in reference.stale_lines()]
    for tool, who, cache in (
        (REFERENCE, "mypy on mypy-split's cache", split_cache),
        (compared_tool(workers), "mypy-split on mypy's cache", mypy_cache),
    ):
        crossed = run(corpus, tool, copy_cache(cache, scratch / "cross"), ["-v"])
        problems += [f"{who}: {line}" for line in crossed.stale_lines()]
        diff = difference(reference.without_log(), crossed.without_log(), "mypy on its own cache", who)
        if diff is not None:
            problems.append(diff)
    return "\n".join(problems) if problems else None


def entries_difference(corpus: Corpus, workers: int, mypy_cache: Path, split_cache: Path) -> str | None:
    """Fields of the two caches' entries that differ, interface hashes aside (those are counted)."""
    expected = entry_fields(mypy_cache)
    actual = entry_fields(split_cache)
    found = entry_differences(expected, actual)
    hashes = sum(" interface_hash: " in line for line in found)
    print(f"  {corpus.name}: -n {workers}: {hashes} of {len(expected)} entries differ in interface hash",
          file=sys.stderr)
    # Each line is "<entry> <field>: ..." (or "<entry>: only in ...").
    found = [line for line in found if line.split(": ", 1)[0].rsplit(" ", 1)[-1] not in NUMBERED_BY_PROCESS]
    if not found:
        return None
    shown = found[:40] + ([f"... {len(found) - 40} more"] if len(found) > 40 else [])
    return "\n".join(shown)


def compare_corpus(corpus: Corpus, workers: list[int], tally: Tally, scratch: Path) -> None:
    """One pass of the user's steps on one corpus, every worker count beside mypy."""
    mypy_cache = scratch / "mypy"
    split_caches = {count: scratch / f"split-{count}" for count in workers}

    def step(scenario: str) -> None:
        expected = run(corpus, REFERENCE, mypy_cache)
        for count in workers:
            actual = run(corpus, compared_tool(count), split_caches[count])
            tally.add(corpus.name, scenario, count, difference(expected, actual))
        print(f"  {corpus.name}: {scenario} done (mypy exit {expected.returncode})", file=sys.stderr)

    def cross(scenario: str) -> None:
        for count in workers:
            problems = cross_difference(corpus, count, mypy_cache, split_caches[count], scratch)
            tally.add(corpus.name, scenario, count, problems)

    def entries(scenario: str) -> None:
        for count in workers:
            tally.add(corpus.name, scenario, count, entries_difference(corpus, count, mypy_cache, split_caches[count]))

    step("cold")
    entries("entries")
    step("warm")
    cross("cross")
    with edits.edited(corpus.edit_file):
        step("edit")
        entries("entries-edit")
        cross("cross-edit")


def print_table(tally: Tally, corpora: list[Corpus], workers: list[int]) -> None:
    header = ["corpus", "scenario", *(f"split -n {count}" for count in workers)]
    rows = [header]
    for corpus in corpora:
        for scenario in SCENARIOS:
            cells = []
            for count in workers:
                same, different = tally.counts.get((corpus.name, scenario, count), [0, 0])
                cells.append(f"{same} same / {different} diff")
            rows.append([corpus.name, scenario, *cells])
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


def compare(corpora: list[Corpus], workers: list[int], repeat: int) -> int:
    tally = Tally()
    SCRATCH.mkdir(parents=True, exist_ok=True)
    for round_index in range(repeat):
        for corpus in corpora:
            print(f"round {round_index + 1}/{repeat}: {corpus.name}", file=sys.stderr)
            with tempfile.TemporaryDirectory(prefix="compare-", dir=SCRATCH) as scratch:
                compare_corpus(corpus, workers, tally, Path(scratch))
    print(f"mypy -n 0 against mypy-split -n N, {repeat} round(s); 'same': identical stdout, stderr and exit code")
    print_table(tally, corpora, workers)
    for diff in tally.diffs:
        print()
        print(diff.rstrip())
    return 1 if tally.diffs else 0


# ---------------------------------------------------------------- command line


def int_list(text: str) -> list[int]:
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command", required=True)
    prepare_parser = commands.add_parser("prepare", help="download, install or generate corpora under misc/.corpora")
    prepare_parser.add_argument("--corpora", help="comma-separated corpus names (default: all)")
    commands.add_parser("show", help="print each corpus's folder and command")
    compare_parser = commands.add_parser("compare", help="mypy -n 0 against mypy-split -n N on each corpus")
    compare_parser.add_argument("--workers", type=int_list, default=[0], help="mypy-split's worker counts: 0,1,2")
    compare_parser.add_argument("--repeat", type=int, default=1, help="passes over every corpus")
    compare_parser.add_argument("--corpora", help="comma-separated corpus names (default: all)")
    args = parser.parse_args(argv)
    if args.command == "prepare":
        return prepare(select_corpora(args.corpora, prepared=False))
    if args.command == "show":
        for corpus in all_corpora():
            state = "" if corpus.is_prepared() else "  (not prepared)"
            command = " ".join(corpus.command(REFERENCE))
            print(f"{corpus.name}: cd {corpus.cwd} && PYTHONSAFEPATH=1 {command}{state}")
            print(f"  edit: {corpus.edit_file}")
        return 0
    return compare(select_corpora(args.corpora), args.workers, args.repeat)


if __name__ == "__main__":
    sys.exit(main())
