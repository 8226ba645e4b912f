"""The engine inside a worker: the same options, the coordinator's graph, SCC tasks.

A session is made from the coordinator's own argument list (so config files
and environment are read exactly as there), receives the graph once, then
checks one SCC per task: interface (committed, then reported at once) and
implementation (errors reported as structured records).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Protocol

import mypy.build
import mypy.main
from librt.internal import ReadBuffer
from mypy.build import SCC, BuildManager, Graph, State
from mypy.errors import ErrorInfo
from mypy.fscache import FileSystemCache

from mypy_split import engine, parsed_arguments, phases, raw_trees
from mypy_split.build_worker import faults, forked
from mypy_split.build_worker.entry_log import EntryLog
from mypy_split.build_worker.recheck import recheck_in_memory
from mypy_split.entry_counts import TASK, EntryCounts
from mypy_split.protocol import (
    Bodies,
    CheckScc,
    ErrorRecord,
    GraphData,
    Hello,
    ImplementationDone,
    InterfaceDone,
    Message,
    OrderRecord,
    TakeBodies,
    TimedSpan,
)
from mypy_split.printed_signatures import may_print_any
from mypy_split.reports import WorkerReports, idle_dirs
from mypy_split.sensitive import Sensitivity
from mypy_split.stored_order import StoredOrders


class Send(Protocol):
    """Messages to the coordinator, written together in one write (one wake-up there)."""

    def __call__(self, *messages: Message) -> None: ...


Receive = Callable[[], "Message | None"]


class StaleDependency(Exception):
    """A dependency's cache entry does not have the interface hash the coordinator expects."""


class CoordinatorGone(Exception):
    """The coordinator stopped in the middle of a shared task (shutdown, or its end of the pipe)."""


class CacheWriteFailed(Exception):
    """The engine could not write a module's meta (it only logs that): fail the task."""


class WorkerSession:
    def __init__(self, manager: BuildManager) -> None:
        self.manager = manager
        self.graph: Graph = {}
        self.from_cache: set[str] = set()
        self.reports: WorkerReports | None = None
        # Modules of SCCs whose interface this process repeated as a helper.
        self.helped: set[str] = set()
        # Every interface hash the coordinator sent (each is sent once), by module.
        self.expected_hashes: dict[str, bytes] = {}
        # Measured work not yet reported; it travels with the next result.
        self.spans: list[TimedSpan] = []
        # The coordinator's pipes: a forked child must not hold them open.
        self.channel_fds: tuple[int, ...] = ()
        # The SCCs some other SCC imports; None until the graph arrives.
        self.imported_sccs: set[int] | None = None
        # With `--soft-error-limit`: what each task adds to the error map (entry_log.py).
        self.entry_log: EntryLog | None = None
        # The orders the cache loses, put back on modules loaded from it (stored_order.py);
        # argument lists only on functions read, checked before each answer
        # that prints a signature (`signatures_unrestored`).
        self.stored_orders = StoredOrders(lazy_argument_lists=True)

    @contextmanager
    def span(self, name: str) -> Iterator[None]:
        start = time.monotonic()
        try:
            yield
        finally:
            self.spans.append((name, start, time.monotonic()))

    def counting(self, key: str | None) -> AbstractContextManager[None]:
        """Error entries added meanwhile count under `key` (entry_log.py); None: recorded only."""
        return nullcontext() if self.entry_log is None else self.entry_log.counting(key)

    def entry_counts(
        self, slots: list[str], scc_modules: list[str], module_ids: list[str], replayed_once: set[str]
    ) -> EntryCounts | None:
        """What the task added in these slots; the forms of `module_ids`, checked here (entry_log.py)."""
        if self.entry_log is None:
            return None
        scc_files = {self.graph[module_id].xpath: module_id for module_id in scc_modules}
        checked = {module_id: self.graph[module_id].xpath for module_id in module_ids}
        return self.entry_log.counts(slots, scc_files, checked, lambda ids: self.error_records(ids, replayed_once))

    def task_entry_counts(
        self, scc: SCC, module_ids: list[str], replayed_once: set[str], children: list[ImplementationDone]
    ) -> EntryCounts | None:
        """The task's counts: its parse and interface phase, the bodies checked here and by forked copies."""
        own = self.entry_counts([TASK, *module_ids], sorted(scc.mod_ids), module_ids, replayed_once)
        if own is None or not children:
            return own
        return EntryCounts.merged([own, *(child.entries for child in children if child.entries is not None)])

    def take_spans(self) -> list[TimedSpan]:
        spans, self.spans = self.spans, []
        return spans

    @classmethod
    def start(cls, hello: Hello) -> WorkerSession:
        """Build options and a manager as the coordinator did; CompileError if plugins fail."""
        os.chdir(hello.cwd)
        engine.tune_process()
        engine.reset_process_caches()
        fscache = FileSystemCache()
        parsed = parsed_arguments.take(hello.argv, hello.cwd)
        if parsed is None:
            parsed = mypy.main.process_options(
                list(hello.argv), stdout=sys.stderr, stderr=sys.stderr, fscache=fscache
            )
        sources, options = parsed
        options.num_workers = 0
        # The coordinator applies the limit, in mypy's order (soft_limit.py): nothing is hidden here.
        soft_limit = options.many_errors_threshold >= 0
        options.many_errors_threshold = -1
        if hello.cache_dir is not None:
            options.cache_dir = hello.cache_dir
        report_names = list(options.report_dirs)
        if hello.report_root is not None:
            # Pages go to a private folder per task, moved into place by the coordinator.
            options.report_dirs = idle_dirs(options.report_dirs, hello.report_root)
        # Errors go back as records; nothing is flushed or printed here.
        manager = engine.open_build(
            sources,
            options,
            fscache=fscache,
            flush_errors=lambda path, lines, serious: None,
            stdout=sys.stderr,
            stderr=sys.stderr,
            worker=True,
        )
        session = cls(manager)
        if soft_limit:
            session.entry_log = EntryLog(manager.errors)
        if manager.reports is not None and hello.report_root is not None:
            session.reports = WorkerReports(manager.reports, report_names, hello.report_root)
        return session

    def load_graph(self, data: GraphData) -> None:
        with self.span("load graph"):
            self.read_graph(data)

    def read_graph(self, data: GraphData) -> None:
        manager = self.manager
        # This process keeps every state (and what it checked ahead) until it
        # exits: frozen for good, the collections before tasks never scan them.
        with engine.objects_kept(manager.options):
            for blob in data.states:
                state = State.read(ReadBuffer(blob), manager)
                # A module this process checked ahead keeps its checked state (head_start.py).
                self.graph.setdefault(state.id, state)
        manager.missing_modules.update(data.missing_modules)
        for module_id, state in self.graph.items():
            manager.import_map[module_id] = state.dependencies_set
        # Plugins look modules up through this dict as they are parsed or loaded.
        manager.plugin.set_modules(manager.modules)
        self.from_cache = set(data.from_cache)
        sccs = [SCC(set(mods), scc_id=scc_id, deps=deps) for scc_id, mods, deps, _ in data.sccs]
        for _, module_ids, _, imports in data.sccs:
            # What the coordinator's graph computed: the metas this process writes record it.
            for module_id in module_ids:
                self.graph[module_id].trans_dep_hash = bytes.fromhex(imports)
        manager.scc_by_id = {scc.id: scc for scc in sccs}
        self.imported_sccs = {dep for scc in sccs for dep in scc.deps}
        manager.top_order = [scc.id for scc in sccs]
        for scc in sccs:
            for module_id in scc.mod_ids:
                manager.scc_by_mod_id[module_id] = scc

    def check(self, task: CheckScc, send: Send, receive: Receive) -> None:
        """Both phases of one SCC; InterfaceDone is sent as soon as the cache is committed."""
        manager = self.manager
        scc = manager.scc_by_id[task.scc_id]
        started = time.perf_counter()
        self.begin_task(task.scc_id, scc)
        self.stored_orders.add(task.stored_orders)
        self.expected_hashes.update((m, bytes.fromhex(h)) for m, h in task.expected_hashes.items())
        if task.collect_garbage:
            # Otherwise the garbage of earlier tasks is frozen with this one's
            # trees; near the build's end that memory would hardly be reused.
            with self.span("collect garbage"):
                engine.collect_garbage(manager.options)
        with engine.objects_kept(manager.options):
            if task.recheck:
                with self.span("recheck dependencies"):
                    recheck_in_memory(
                        task, self.graph, manager, self.from_cache, self.expected_hashes, self.stored_orders
                    )
                # The task's own cost starts here (the cost model records it).
                started = time.perf_counter()
            with self.span("parse"):
                self.prepare_states(task)
            with self.span("load dependencies"):
                # The engine would do this first thing in either phase call; done
                # here, its cost shows apart from the checking.
                phases.load_dependencies(scc, self.graph, manager, self.stored_orders)
        self.check_phases(task, scc, started, send, receive)

    def begin_task(self, scc_id: int, scc: SCC) -> None:
        """Per-task state reset before an SCC is checked here."""
        # Only-once notes are placed by the coordinator across tasks; within a
        # task the engine's own filtering is already the sequential one.
        self.manager.errors.only_once_messages.clear()
        self.manager.fg_deps.clear()
        if self.entry_log is not None:
            self.entry_log.begin_task()
        faults.task_started(scc.mod_ids)
        if self.reports is not None:
            self.reports.begin_task(scc_id)

    def check_phases(self, task: CheckScc, scc: SCC, started: float, send: Send, receive: Receive) -> None:
        """Both phases of an SCC whose trees are built and dependencies loaded; results sent."""
        manager = self.manager
        self.adopt_helped_hashes()
        replayed_once = set(manager.errors.only_once_messages)
        # The interface result of a small task waits for the other, so that
        # the coordinator wakes up once for the task (CheckScc.results_together).
        held: list[Message] = []
        # Results of forked copies that checked bodies of a shared SCC (none otherwise).
        children: list[ImplementationDone] = []
        if task.one_piece:
            with self.span("whole SCC"), self.counting(TASK):
                phases.check_whole(scc, self.graph, manager)
            module_ids = phases.order_in_scc(scc, self.graph)
            self.verify_written(module_ids, [self.graph[m].interface_hash for m in module_ids])
            hashes = {m: self.graph[m].interface_hash.hex() for m in module_ids}
            sensitivity, memory_records = self.memory_facts(task.scc_id, module_ids)
            # Both results are ready now: they go together.
            held.append(
                InterfaceDone(
                    task.scc_id, hashes, time.perf_counter() - started, self.take_spans(),
                    sensitivity=sensitivity, source_hashes=self.source_hashes(module_ids), stored_orders=memory_records,
                )
            )
        else:
            with self.span("interface"), self.counting(None if task.helper else TASK):
                result = phases.check_interface(
                    scc, self.graph, manager, from_cache=self.from_cache, writes=not task.helper
                )
            self.verify_dependencies([*scc.deps, *task.recheck])
            if task.helper:
                self.helped.update(scc.mod_ids)
            else:
                self.verify_written(list(result.module_ids), list(result.interface_hashes))
                hashes = {m: h.hex() for m, h in zip(result.module_ids, result.interface_hashes)}
                sensitivity, memory_records = self.memory_facts(task.scc_id, list(result.module_ids))
                interface_done = InterfaceDone(
                    task.scc_id, hashes, time.perf_counter() - started, self.take_spans(),
                    sensitivity=sensitivity, source_hashes=self.source_hashes(list(result.module_ids)),
                    stored_orders=memory_records,
                )
                # Not for a shared SCC: its bodies are asked for (TakeBodies) after the interface result.
                if task.results_together and not task.shared and not faults.stops_between_phases(scc.mod_ids):
                    held.append(interface_done)
                else:
                    send(interface_done)
            faults.between_phases(scc.mod_ids)
            faults.before_bodies()
            started = time.perf_counter()
            if task.shared:
                module_ids, children = self.check_handed_bodies(task.scc_id, result, replayed_once, send, receive)
            else:
                module_ids = list(result.module_ids)
                with self.span("implementation"), self.counting(TASK):
                    phases.check_implementation(module_ids, list(result.meta_files), self.graph, manager)
        records = self.error_records(module_ids, replayed_once)
        unrestored = self.signatures_unrestored(records)
        for child in children:
            records.update(child.errors)
            unrestored = unrestored or child.signatures_unrestored
        send(
            *held,
            ImplementationDone(
                task.scc_id,
                records,
                sorted(manager.missing_stub_packages),
                time.perf_counter() - started + sum(child.seconds for child in children),
                fine_grained_deps=self.take_fine_grained_deps(),
                spans=self.take_spans(),
                reports=None if self.reports is None else self.reports.end_task(),
                indirect=self.indirect_of(module_ids) if task.helper else {},
                forked_spans=[child.spans for child in children],
                entries=self.task_entry_counts(scc, module_ids, replayed_once, children),
                signatures_unrestored=unrestored,
            )
        )

    def signatures_unrestored(self, records: dict[str, list[ErrorRecord]]) -> bool:
        """Whether these errors may print a signature of a function loaded here without its argument list.

        Argument lists are put back on functions once read, and only here
        (`StoredOrders.restore_read_functions`): before an answer that
        prints a signature, the one thing that reads them.  If one that
        lacked its list until now may be printed in the answer, in a way the
        list changes, the coordinator checks the SCC again.
        """
        printing = [record.message for found in records.values() for record in found if "def " in record.message]
        if not printing:
            return False
        lacked = self.stored_orders.restore_read_functions(self.manager.modules)
        return may_print_any(printing, lacked)

    def error_records(self, module_ids: list[str], replayed_once: set[str]) -> dict[str, list[ErrorRecord]]:
        """Each module's shown errors; notes the engine shows once are marked, unless replayed before the task."""
        tuples = phases.shown_error_tuples(module_ids, self.graph, self.manager)
        only_once = self.manager.errors.only_once_messages - replayed_once
        return {
            module_id: [
                ErrorRecord(*error, only_once=error[5] == "note" and error[6] in only_once)
                for error in errors
            ]
            for module_id, errors in tuples.items()
        }

    def indirect_of(self, module_ids: list[str]) -> dict[str, tuple[list[str], list[str]]]:
        return {module_id: phases.indirect_dependencies(self.graph[module_id]) for module_id in module_ids}

    def check_handed_bodies(
        self, scc_id: int, result: phases.InterfaceResult, replayed_once: set[str], send: Send, receive: Receive
    ) -> tuple[list[str], list[ImplementationDone]]:
        """Check the bodies the coordinator hands out, until it has none left.

        Returns the modules checked here, in check order, and the results of
        forked children that checked others (`forked.py`; their `meta_ex`
        files are written here).  Modules come in any order and are shared
        with other processes, so each starts from the only-once notes the
        interface phase left: every module shows its own, and the coordinator
        keeps the first in mypy's order.
        """
        errors = self.manager.errors
        after_interface = set(errors.only_once_messages)
        emitted: set[str] = set()
        meta_files = dict(zip(result.module_ids, result.meta_files))

        def check(module_id: str, writes: bool) -> None:
            errors.only_once_messages.clear()
            errors.only_once_messages.update(after_interface)
            with self.counting(module_id):
                check_body(module_id, writes)
            emitted.update(errors.only_once_messages)

        def check_body(module_id: str, writes: bool) -> None:
            if writes:
                phases.check_implementation([module_id], [meta_files[module_id]], self.graph, self.manager)
            else:
                phases.check_implementation_unwritten(module_id, self.graph, self.manager)

        def child_result(checked: list[str], began: float) -> ImplementationDone:
            errors.only_once_messages.update(emitted)
            records = self.error_records(checked, replayed_once)
            return ImplementationDone(
                scc_id, records, sorted(self.manager.missing_stub_packages),
                time.monotonic() - began, spans=[("implementation", began, time.monotonic())],
                indirect=self.indirect_of(checked),
                entries=self.entry_counts(checked, list(result.module_ids), checked, replayed_once),
                signatures_unrestored=self.signatures_unrestored(records),
            )

        checked: list[str] = []
        children: list[ImplementationDone] = []
        while True:
            send(TakeBodies(scc_id))
            reply = receive()
            if not isinstance(reply, Bodies) or reply.scc_id != scc_id:
                raise CoordinatorGone(f"expected the bodies of SCC {scc_id}, got {reply!r}")
            if not reply.module_ids:
                break
            with self.span("implementation"):
                share = forked.share_by_forking(
                    reply.module_ids, reply.forks, lambda m: check(m, True), lambda m: check(m, False),
                    child_result, self.channel_fds,
                )
            checked.extend(share.checked_here)
            children.extend(share.children)
        errors.only_once_messages.update(emitted)
        for child in children:
            self.adopt_child_result(child)
        phases.release_unchecked_bodies([m for m in result.module_ids if m not in checked], self.graph, self.manager)
        return [module_id for module_id in result.module_ids if module_id in checked], children

    def adopt_child_result(self, child: ImplementationDone) -> None:
        """Write the `meta_ex` files of the modules a forked child checked, as it found them."""
        manager = self.manager
        for module_id, indirect in child.indirect.items():
            tuples = [record.engine_tuple() for record in child.errors.get(module_id, [])]
            phases.write_meta_ex(module_id, indirect, tuples, None, self.graph, manager)
        manager.missing_stub_packages.update(child.missing_stub_packages)
        manager.commit()

    def memory_facts(self, scc_id: int, module_ids: list[str]) -> tuple[int, dict[str, list[OrderRecord]]]:
        """How differently importers may see these modules from the cache, and what to put back where
        they load them (`phases.memory_facts`).

        An SCC nothing imports has no importers to tell: its walk is skipped.
        """
        if self.imported_sccs is not None and scc_id not in self.imported_sccs:
            return int(Sensitivity.NONE), {}
        level, records = phases.memory_facts(module_ids, self.graph)
        return int(level), records

    def source_hashes(self, module_ids: list[str]) -> dict[str, str]:
        """The hash of each module's source as checked here."""
        return {m: h for m in module_ids if (h := self.graph[m].source_hash) is not None}

    def adopt_helped_hashes(self) -> None:
        """Take the committed interface hashes of SCCs this process only helped with.

        A helper's interface phase writes nothing, so its states keep the old
        hashes; the owner's are the ones in the cache (the same text checked
        the same way), and a dependent checked here records them in its meta.
        The coordinator may have sent them before this process helped.
        """
        for module_id in self.helped:
            committed = self.expected_hashes.get(module_id)
            if committed is not None:
                self.graph[module_id].interface_hash = committed

    def take_fine_grained_deps(self) -> dict[str, list[str]]:
        """What this task added to the engine's fine-grained dependency map.

        The engine fills it as each module finishes (with --cache-fine-grained
        only), protocol dependencies seen so far included; the coordinator
        writes the map for the whole program.
        """
        deps = self.manager.fg_deps
        taken = {trigger: sorted(targets) for trigger, targets in deps.items()}
        deps.clear()
        return taken

    def prepare_states(self, task: CheckScc) -> None:
        """Per-module data the graph message left out; trees; replay import errors.

        A module the coordinator parsed comes with its serialized tree and the
        stat taken before that parse: its file is not read here at all.
        """
        manager = self.manager
        states = [self.graph[module_id] for module_id in task.module_ids]
        for state, suppressed_opts in zip(states, task.suppressed_opts):
            state.options = state.options.clone_for_module(state.id)
            state.known_suppressed_deps_opts = suppressed_opts
        to_parse = []
        for index, state in enumerate(states):
            blob = task.raw_trees[index] if task.raw_trees else b""
            stat = task.stats[index] if task.stats else None
            if not blob:
                to_parse.append(state)
                continue
            if stat is not None:
                raw_trees.adopt_stat(manager, state, stat)
            raw_trees.build_tree(state, raw_trees.deserialize(blob))
        phases.stat_before_reading(to_parse, manager)
        # As mypy parses them when it checks the SCC; a helper's parse repeats its owner's.
        with self.counting(None if task.helper else TASK):
            manager.parse_all(to_parse, post_parse=False)
        for state, ignored in zip(states, task.imports_ignored):
            # Not from the tree: mypy takes only the first line importing each
            # module (or the cache's record), so the meta must say what it says.
            state.imports_ignored = ignored
        for state, import_errors in zip(states, task.import_errors):
            if import_errors:
                manager.errors.set_file(state.xpath, state.id, state.options)
                for blob in import_errors:
                    manager.errors.add_error_info(ErrorInfo.read(ReadBuffer(blob)))

    def verify_written(self, module_ids: list[str], new_hashes: list[bytes]) -> None:
        """Every module's meta is on disk with its new interface hash.

        Dependents in other processes will read it; a silently failed write
        would hand them the previous version, or nothing.  The engine only
        logs a failed write: when the data file cannot be written (or the
        source file no longer be read) it writes no meta and returns none,
        so each meta is looked up, never taken from what the engine returned.
        """
        if not phases.writes_cache(self.manager):
            return
        for module_id, new_hash in zip(module_ids, new_hashes):
            state = self.graph[module_id]
            if state.path is None:
                continue
            found = mypy.build.find_cache_meta(module_id, state.path, self.manager, skip_validation=True)
            if found is None or found[0].interface_hash != new_hash:
                raise CacheWriteFailed(f"the cache entry of {module_id} was not written")

    def verify_dependencies(self, scc_ids: list[int]) -> None:
        """The modules of these SCCs read from the cache are the versions the coordinator knows."""
        for scc_id in scc_ids:
            for module_id in self.manager.scc_by_id[scc_id].mod_ids:
                state = self.graph.get(module_id)
                if state is None or state.tree is None:
                    continue
                expected = self.expected_hashes.get(module_id)
                if state.interface_hash != expected:
                    found = state.interface_hash.hex()
                    wanted = "none sent" if expected is None else expected.hex()
                    raise StaleDependency(f"{module_id}: cache has interface {found}, expected {wanted}")

