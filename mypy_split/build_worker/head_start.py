"""The worker's side of a head start: check the builtins cycle before the graph arrives.

See mypy_split/head_start.py for why and when.  The worker loads `builtins`
and what it imports through the engine's own graph loading, exactly as an
in-process build would, tells the coordinator what it loaded, and checks the
cycle as an ordinary task whose results carry `HEAD_START_SCC`.  The checked
states stay: the graph that follows keeps them (session.py), so that later
tasks here use them from memory like any SCC this process checked.
"""

from __future__ import annotations

import time

from mypy.errors import CompileError
from mypy.modulefinder import BuildSource

from mypy_split import engine, phases
from mypy_split.build_worker import faults
from mypy_split.build_worker.session import Receive, Send, WorkerSession
from mypy_split.graph import load_graph, plan_sccs
from mypy_split.head_start import HEAD_MODULE, describe, why_not_ahead
from mypy_split.protocol import HEAD_START_SCC, CheckScc, HeadStart


def check_ahead(session: WorkerSession, send: Send, receive: Receive) -> bool:
    """Load and check the builtins cycle; False if this process declined after loading.

    A process that loaded modules of its own and then declined holds trees
    and errors the coordinator's graph knows nothing about: it must not be
    given work (the coordinator retires it).
    """
    manager = session.manager
    if manager.source_set.source_text_present:
        send(HeadStart([], declined="the program is given as text"))
        return True
    started = time.perf_counter()
    engine.collect_garbage(manager.options)
    try:
        with session.span("parse"), engine.objects_kept(manager.options):
            graph = load_graph([BuildSource(None, HEAD_MODULE, followed=True)], manager)
    except CompileError:
        send(HeadStart([], declined="loading the builtins cycle failed"))
        return False
    plan_sccs(graph, manager)
    scc = manager.scc_by_mod_id[HEAD_MODULE]
    sources = set(manager.source_set.source_modules)
    reason = why_not_ahead(set(scc.mod_ids), set(scc.deps), graph, sources)
    if reason is None and manager.errors.is_errors():
        reason = "loading the builtins cycle reported errors"
    if reason is not None:
        send(HeadStart([], declined=reason))
        return False
    module_ids = sorted(scc.mod_ids)
    one_piece = phases.needs_one_piece(scc, graph)
    send(HeadStart(faults.head_start_report([describe(graph[m]) for m in module_ids]), one_piece))
    session.graph.update(graph)
    session.begin_task(HEAD_START_SCC, scc)
    task = CheckScc(HEAD_START_SCC, one_piece, {}, module_ids, [], [])
    session.check_phases(task, scc, started, send, receive)
    return True
