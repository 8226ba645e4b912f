"""The simulator's models of sharing, round trips, send-ahead and batches, and its reading of traces.

Hand-made task sets whose wall times follow from the rules by hand (the
comments work them out), so a change to `SharedScc` or the scheduler that
moves them shows here.  The trace reader is fed a small trace-event file
written here in the format `mypy_split/trace.py` writes.
"""

from __future__ import annotations

import json
import random
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from mypy_split.graph import SccNode
from mypy_split.schedule import PhaseCost
from mypy_split.test.test_misc_tools import dag

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "misc"))

from sim_core import Overheads, Sharing, critical_path, ideal, simulate  # noqa: E402
from sim_report import Estimates, Measured, compare_measured, table  # noqa: E402
from sim_trace import TraceError, measure, misplaced, read_trace, renumbered  # noqa: E402

# One SCC: 1 s of interface, four bodies of 1 s.
CYCLE_BODIES = {0: {"a": 1.0, "b": 1.0, "c": 1.0, "d": 1.0}}
CYCLE_COSTS = {0: PhaseCost(1.0, 4.0)}
SHARING = Sharing(CYCLE_BODIES, share_min=0.25)


# ---------------------------------------------------------------- sharing


def test_four_equal_bodies_on_two_workers_finish_sooner_shared() -> None:
    nodes = dag({0: []})
    assert simulate(nodes, CYCLE_COSTS, 2).makespan == 5.0
    # The idle worker joins at once (4 s left, 2 s a share, nothing else to
    # run), repeats the 1 s interface while the owner checks it, then each
    # takes a 1 s body at a time: two rounds, done at 3.
    shared = simulate(nodes, CYCLE_COSTS, 2, sharing=SHARING)
    assert shared.makespan == 3.0
    assert (shared.helpers, shared.repeated, shared.busy) == (1, 1.0, 6.0)
    # One worker has no one to share with; the bounds see the largest body.
    assert simulate(nodes, CYCLE_COSTS, 1, sharing=SHARING).makespan == 5.0
    assert critical_path(nodes, CYCLE_COSTS, SHARING) == 2.0
    assert ideal(nodes, CYCLE_COSTS, 2, 0.0, SHARING) == 2.5


def test_no_help_when_shares_would_be_under_the_minimum() -> None:
    nodes = dag({0: []})
    # 4 s of bodies in two shares of 2 s: under a 2.5 s minimum nobody joins.
    result = simulate(nodes, CYCLE_COSTS, 2, sharing=Sharing(CYCLE_BODIES, share_min=2.5))
    assert (result.makespan, result.helpers) == (5.0, 0)


def test_a_helper_yields_to_a_queued_scc_that_outranks_the_bodies_left() -> None:
    # 1 needs 0's interface and has a 2 s path of its own.
    nodes = dag({0: [], 1: [0]})
    costs = {**CYCLE_COSTS, 1: PhaseCost(2.0, 0.0)}
    assert simulate(nodes, costs, 2).makespan == 5.0
    # The helper joins (4 s of bodies outlast 1's 2 s path). At 1 each takes a
    # body and 1 is queued; at 2 the owner takes a third, the helper sees 1's
    # 2 s path >= the 1 s left and runs 1 instead (2..4); the owner ends at 4.
    result = simulate(nodes, costs, 2, sharing=Sharing(CYCLE_BODIES, share_min=0.25))
    assert (result.makespan, result.helpers, result.tasks) == (4.0, 1, 2)


def test_an_idle_worker_helps_ahead_of_queued_work_when_the_bodies_are_the_tail() -> None:
    # SCC 0: 0.5 s of interface and four bodies of 2 s; nine independent SCCs of 0.6 s.
    nodes = dag({scc_id: [] for scc_id in range(10)})
    costs = {0: PhaseCost(0.5, 8.0), **{scc_id: PhaseCost(0.3, 0.3) for scc_id in range(1, 10)}}
    sharing = Sharing({0: {"a": 2.0, "b": 2.0, "c": 2.0, "d": 2.0}}, share_min=0.25)
    # Four workers: the 8 s of bodies outlast the 5.4 s of queued work over
    # the two others, so worker 1 joins at once rather than take SCC 1. It
    # repeats the interface while the owner checks it, then each checks two
    # bodies: done at 4.5; the others run the nine small SCCs by 3.0.
    result = simulate(nodes, costs, 4, sharing=sharing)
    assert (result.makespan, result.helpers) == (4.5, 1)
    # Two workers: none would be left for the queue, so it goes first; then
    # the worker cannot help, having taken tasks after 0's interface (it may
    # hold 0 loaded from the cache). The owner checks all four bodies.
    result = simulate(nodes, costs, 2, sharing=sharing)
    assert (result.makespan, result.helpers) == (8.5, 0)


def test_a_coordinator_that_underestimates_the_bodies_shares_them_less() -> None:
    nodes = dag({0: []})
    # It believes the four bodies worth 0.1 s each: two shares of 0.2 s are
    # under the 0.25 s minimum, so nobody joins, and the 4 s take 4 s.
    guessed = replace(SHARING, estimates={0: {"a": 0.1, "b": 0.1, "c": 0.1, "d": 0.1}})
    result = simulate(nodes, CYCLE_COSTS, 2, sharing=guessed, decide_by={0: PhaseCost(0.1, 0.4)})
    assert (result.makespan, result.helpers) == (5.0, 0)
    # Believing them worth 1 s each, as they are, it shares as before.
    right = replace(SHARING, estimates=CYCLE_BODIES)
    assert simulate(nodes, CYCLE_COSTS, 2, sharing=right, decide_by=CYCLE_COSTS).makespan == 3.0


def test_the_coordinator_ranks_by_its_estimates_and_the_work_takes_the_real_time() -> None:
    # A chain 0 -> 1 (3 s in all) and two lone SCCs of 1 s, on two workers.
    nodes = dag({0: [], 1: [0], 2: [], 3: []})
    costs = {0: PhaseCost(1.0, 0.0), 1: PhaseCost(2.0, 0.0), 2: PhaseCost(1.0, 0.0), 3: PhaseCost(1.0, 0.0)}
    # Ranked by the real costs the chain starts at once: done at 3.
    assert simulate(nodes, costs, 2).makespan == 3.0
    # Believing the lone ones long, it starts them first and the chain waits: 4.
    wrong = {0: PhaseCost(0.1, 0.0), 1: PhaseCost(0.1, 0.0), 2: PhaseCost(5.0, 0.0), 3: PhaseCost(4.0, 0.0)}
    assert simulate(nodes, costs, 2, decide_by=wrong).makespan == 4.0


def test_every_chunk_of_bodies_costs_a_round_trip() -> None:
    nodes = dag({0: []})
    overheads = Overheads(round_trip=0.1)
    assert simulate(nodes, CYCLE_COSTS, 2, overheads).makespan == pytest.approx(5.1)
    # Interfaces end at 1.1; two rounds of a round trip and a body each.
    assert simulate(nodes, CYCLE_COSTS, 2, overheads, sharing=SHARING).makespan == pytest.approx(3.3)


def test_forced_sharing_is_refused() -> None:
    with pytest.raises(ValueError):
        Sharing(CYCLE_BODIES, share_min=0.0)


@pytest.mark.parametrize("seed", range(3))
def test_no_shared_simulation_beats_the_shared_bound(seed: int) -> None:
    rng = random.Random(seed)
    deps = {i: rng.sample(range(i), min(i, rng.randint(0, 2))) for i in range(30)}
    bodies = {i: {f"m{j}": rng.uniform(0, 1) for j in range(rng.randint(2, 6))} for i in deps if i % 3 == 0}
    costs = {i: PhaseCost(rng.uniform(0, 1), sum(bodies[i].values()) if i in bodies else rng.uniform(0, 2)) for i in deps}
    nodes, sharing = dag(deps), Sharing(bodies, share_min=0.1)
    helped = 0
    for workers in (1, 2, 4, 16):
        result = simulate(nodes, costs, workers, Overheads(serial_start=0.5), sharing=sharing)
        assert result.makespan >= ideal(nodes, costs, workers, 0.5, sharing) - 1e-9
        helped += result.helpers
    assert helped > 0


def test_the_table_shows_each_model_per_worker_count() -> None:
    nodes = dag({0: []})
    overheads = Overheads(round_trip=0.1, send_ahead=0.02)
    rows = [line.split() for line in table(nodes, CYCLE_COSTS, overheads, SHARING, 2).splitlines()]
    assert rows[0][:9] == ["N", "ideal", "s", "ideal", "sh", "sim", "s", "ovh", "s"]
    # N, ideal, ideal sh, sim, ovh, sim sh, ovh sh, ahead, eff, speedup (see the tests above).
    assert rows[2][:8] == ["2", "5.00", "2.50", "5.00", "5.10", "3.00", "3.30", "3.30"]
    assert rows[2][8:10] == ["76%", "1.52x"]
    measured = compare_measured(nodes, CYCLE_COSTS, Overheads(), SHARING, Measured(workers=2, wall=3.2))
    assert measured == "measured at N=2: 3.20 s wall; predicted: sim 5.00 s, ovh 5.00 s, sim sh 3.00 s, ovh sh 3.00 s"


def test_the_cold_column_decides_by_the_estimates_and_is_the_realistic_one() -> None:
    nodes = dag({0: []})
    overheads = Overheads(round_trip=0.1, send_ahead=0.02)
    estimates = Estimates({0: PhaseCost(0.1, 0.4)}, {0: {"a": 0.1, "b": 0.1, "c": 0.1, "d": 0.1}})
    rows = [line.split() for line in table(nodes, CYCLE_COSTS, overheads, SHARING, 2, estimates).splitlines()]
    assert rows[0][-6:] == ["cold", "s", "eff", "speedup", "bound", "by"]
    # ahead 3.30 as above; cold shares nothing (two shares of 0.2 s believed): 5.10.
    assert rows[2][7:11] == ["3.30", "5.10", "49%", "0.98x"]
    measured = compare_measured(nodes, CYCLE_COSTS, Overheads(), SHARING, Measured(2, 5.0), estimates)
    assert measured.endswith("ovh sh 3.00 s, cold 5.00 s")


# ---------------------------------------------------------------- round trips, send-ahead and batches


def test_send_ahead_saves_the_round_trip_of_the_next_small_task() -> None:
    chain = dag({0: [], 1: [0], 2: [1]})
    costs = {scc_id: PhaseCost(1.0, 2.0) for scc_id in range(3)}
    assert simulate(chain, costs, 1, Overheads(round_trip=0.1)).makespan == pytest.approx(9.3)
    # 1 is queued when 0's interface ends, with 1.9 s of 0 left: under a 5 s
    # limit it goes behind 0 and starts without a round trip, and so does 2.
    result = simulate(chain, costs, 1, Overheads(round_trip=0.1, send_ahead=5.0))
    assert result.makespan == pytest.approx(9.1)
    assert result.sent_ahead == 2
    # Under a 2 s limit, 3 s tasks are too big to be sent ahead.
    assert simulate(chain, costs, 1, Overheads(round_trip=0.1, send_ahead=2.0)).sent_ahead == 0
    # With a worker per task, 1 goes to an idle worker, round trip and all.
    assert simulate(chain, costs, 3, Overheads(round_trip=0.1, send_ahead=5.0)).makespan == pytest.approx(5.3)


def test_send_ahead_looks_only_when_something_happens() -> None:
    # Four tasks of 10 ms on one worker: each is sent ahead as the one before starts.
    tiny = dag({0: [], 1: [], 2: [], 3: []})
    tiny_costs = {scc_id: PhaseCost(0.01, 0.0) for scc_id in range(4)}
    assert simulate(tiny, tiny_costs, 1, Overheads(round_trip=0.1)).makespan == pytest.approx(0.44)
    result = simulate(tiny, tiny_costs, 1, Overheads(round_trip=0.1, send_ahead=0.02))
    assert result.makespan == pytest.approx(0.14)
    assert result.sent_ahead == 3
    # Behind a 3 s task nothing is sent: no message comes while it ends.
    nodes = dag({0: [], 1: []})
    costs = {0: PhaseCost(1.0, 2.0), 1: PhaseCost(0.01, 0.0)}
    result = simulate(nodes, costs, 1, Overheads(round_trip=0.1, send_ahead=0.02))
    assert result.makespan == pytest.approx(3.21)
    assert result.sent_ahead == 0


# Three 5 ms SCCs and a 1 s one that needs the first.
SMALL_THEN_BIG = dag({0: [], 1: [], 2: [], 3: [0]})
SMALL_THEN_BIG_COSTS = {0: PhaseCost(0.002, 0.003), 1: PhaseCost(0.002, 0.003), 2: PhaseCost(0.002, 0.003),
                        3: PhaseCost(0.5, 0.5)}


def test_a_batch_saves_the_round_trips_of_its_small_tasks() -> None:
    ahead = Overheads(round_trip=0.1, send_ahead=0.02)
    # Without batches: 0 (after a round trip) ends at 0.105; 3, queued at 0's
    # interface, is too big to go ahead, so it runs 0.205-1.205 after a round
    # trip; then 1 after another (1.310), and 2 sent ahead behind it: 1.315.
    alone = simulate(SMALL_THEN_BIG, SMALL_THEN_BIG_COSTS, 1, ahead)
    assert alone.makespan == pytest.approx(1.315) and alone.held == 0
    # One batch of 0, 1 and 2 (15 ms, under 20): 0.115, 0 and 1 held until 2's
    # interface (0.112) releases 3, which runs after one round trip: 1.215.
    batched = simulate(SMALL_THEN_BIG, SMALL_THEN_BIG_COSTS, 1, replace(ahead, batch=0.02))
    assert batched.makespan == pytest.approx(1.215) and (batched.held, batched.sent_ahead) == (2, 2)


def test_the_dependents_of_a_batch_wait_for_its_results() -> None:
    ahead = Overheads(round_trip=0.1, send_ahead=0.02)
    # Two workers: without batches 0 and 1 run side by side, and 3 starts on
    # the first one free, at 0.105: 1.205.
    assert simulate(SMALL_THEN_BIG, SMALL_THEN_BIG_COSTS, 2, ahead).makespan == pytest.approx(1.205)
    # A fair share of the queue is one more: worker 0 gets 0 and 1, worker 1
    # gets 2.  0's interface waits for 1's (0.107), and so does 3: 1.207.
    batched = simulate(SMALL_THEN_BIG, SMALL_THEN_BIG_COSTS, 2, replace(ahead, batch=0.02))
    assert batched.makespan == pytest.approx(1.207) and batched.held == 1


# ---------------------------------------------------------------- traces


def span(name: str, row: int, start: float, end: float, scc: int | None = None) -> dict[str, object]:
    args = {} if scc is None else {"scc": scc}
    return {"name": name, "ph": "X", "pid": 1, "tid": row, "ts": start * 1e6, "dur": (end - start) * 1e6, "args": args}


def write_trace(path: Path, spans: list[dict[str, object]]) -> str:
    meta = {"name": "thread_name", "ph": "M", "pid": 1, "tid": 0, "args": {"name": "coordinator"}}
    path.write_text(json.dumps({"traceEvents": [meta, *spans]}))
    return str(path)


# ---------------------------------------------------------------- the head start


def builtins_first(deps: dict[int, list[int]]) -> list[SccNode]:
    """`dag`, with SCC 0 holding `builtins` (what the head start checks ahead)."""
    nodes = dag(deps)
    return [nodes[0]._replace(modules=("builtins", "typing")), *nodes[1:]]


def test_a_head_start_moves_the_builtins_cycle_before_the_serial_start() -> None:
    # 0 (builtins) 1 s + 2 s, then 1 and 2 (1 s + 2 s each) need its interface.
    nodes = builtins_first({0: [], 1: [0], 2: [0]})
    costs = {scc_id: PhaseCost(1.0, 2.0) for scc_id in range(3)}
    late = Overheads(serial_start=2.0, worker_start=0.5)
    # Without it: 0 starts at 2.5, its interface ends at 3.5; worker 1 runs 1
    # (3.5-6.5), worker 0 runs 2 after 0's bodies (5.5-8.5).
    assert simulate(nodes, costs, 2, late).makespan == 8.5
    # Ahead at 0.3: 0's interface ends at 1.3, but 1 and 2 wait for the graph
    # and worker 1 (2.5): 1 runs 2.5-5.5 on worker 1; worker 0 ends 0's bodies
    # at 3.3 and runs 2 (3.3-6.3).
    assert simulate(nodes, costs, 2, replace(late, head_start=0.3)).makespan == 6.3


def test_a_head_start_ending_before_the_graph_waits_for_it() -> None:
    # Builtins done by 0.4 s; the graph comes at 2 s: worker 0 gets 1 only then.
    nodes = builtins_first({0: [], 1: [0]})
    costs = {0: PhaseCost(0.1, 0.2), 1: PhaseCost(1.0, 0.0)}
    result = simulate(nodes, costs, 1, Overheads(serial_start=2.0, head_start=0.1))
    assert result.makespan == 3.0


def test_a_trace_shows_the_head_start(tmp_path: Path) -> None:
    spans = [
        span("load graph and plan", 0, 0.0, 1.0),
        span("start-up", 1, 0.05, 0.2),
        span("parse", 1, 0.2, 0.3, scc=0),
        span("interface", 1, 0.3, 1.5, scc=0),
        span("implementation", 1, 1.5, 1.6, scc=0),
        span("load graph", 1, 1.6, 1.7),
        span("start-up", 2, 0.05, 1.1),
        span("load graph", 2, 1.1, 1.2),
    ]
    measured = measure(read_trace(write_trace(tmp_path / "t.json", spans)))
    assert measured.head_start == 0.2
    assert measured.serial_start == 1.0
    # Worker 1 took the graph late because it was busy ahead: only worker 2's delay counts.
    assert measured.worker_start == pytest.approx(0.2)


def test_a_trace_gives_costs_and_overheads(tmp_path: Path) -> None:
    # SCC 0 (owner worker 0, helped by worker 1), then SCC 1 on worker 1.
    spans = [
        span("load graph and plan", 0, 0.0, 1.0),
        span("start-up", 1, 0.1, 1.1),
        span("start-up", 2, 0.1, 1.2),
        span("load graph", 1, 1.1, 1.2, scc=0),
        span("parse", 1, 1.25, 1.35, scc=0),
        span("load dependencies", 1, 1.35, 1.36, scc=0),
        span("interface", 1, 1.36, 2.0, scc=0),
        span("implementation", 1, 2.01, 2.3, scc=0),
        span("implementation", 1, 2.303, 2.5, scc=0),
        span("load graph", 2, 1.2, 1.3, scc=0),
        span("parse", 2, 1.4, 1.5, scc=0),
        span("load dependencies", 2, 1.5, 1.53, scc=0),
        span("interface", 2, 1.53, 2.2, scc=0),
        span("implementation", 2, 2.21, 2.5, scc=0),
        span("parse", 2, 2.502, 2.6, scc=1),
        span("load dependencies", 2, 2.6, 2.62, scc=1),
        span("whole SCC", 2, 2.62, 3.0, scc=1),
    ]
    measured = measure(read_trace(write_trace(tmp_path / "t.json", spans)))
    assert measured.costs[0].interface == pytest.approx(0.74)  # the owner's parse and interface
    assert measured.costs[0].implementation == pytest.approx(0.777)  # both participants' chunks
    assert measured.costs[1].interface == pytest.approx(0.478)
    assert measured.costs[1].implementation == 0.0
    assert measured.helpers == 1
    assert measured.repeated == pytest.approx(0.67)
    assert (measured.workers, measured.tasks, measured.gaps) == (2, 3, 1)
    assert measured.round_trip == measured.mean_gap == pytest.approx(0.002)
    assert measured.chunk_round_trip == pytest.approx(0.003)
    assert measured.per_task == pytest.approx(0.02)
    assert measured.serial_start == 1.0
    assert measured.worker_start == pytest.approx(0.25)
    assert measured.wall == pytest.approx(3.0)
    assert measured.head_start is None
    # The ids fit a plan where 1 imports 0 (1 started after 0's interface);
    # reversed, 0 would have started before its dependency's interface.
    spans_read = read_trace(str(tmp_path / "t.json"))
    assert misplaced(dag({0: [], 1: [0]}), spans_read) == 0
    assert misplaced(dag({1: [], 0: [1]}), spans_read) == 1


def test_a_trace_that_names_its_sccs_fits_a_plan_numbered_otherwise(tmp_path: Path) -> None:
    """SCC ids follow the hash seed; the module a trace names each SCC by does not."""
    spans = [
        {**span("interface", 1, 0.0, 1.0, scc=7), "args": {"scc": 7, "module": "base"}},
        {**span("implementation", 1, 1.0, 1.5, scc=7), "args": {"scc": 7, "module": "base"}},
        {**span("interface", 2, 1.0, 1.2, scc=3), "args": {"scc": 3, "module": "app"}},
    ]
    read = read_trace(write_trace(tmp_path / "t.json", spans))
    plan = dag({0: [], 1: [0]})  # 0 is base, 1 is app (dag names SCC n's module "m{n}")
    plan = [node._replace(modules=(name,)) for node, name in zip(plan, ["base", "app"])]
    fitted = renumbered(read, plan)
    assert [s.scc for s in fitted] == [0, 0, 1]
    assert misplaced(plan, fitted) == 0
    assert set(measure(fitted).costs) == {0, 1}
    # Spans without a name keep their ids.
    assert renumbered([replace(read[0], module=None)], plan)[0].scc == 7


def test_a_file_that_is_no_trace_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"events": []}')
    with pytest.raises(TraceError, match="not a mypy-split trace"):
        read_trace(str(bad))
    with pytest.raises(TraceError, match="cannot read"):
        read_trace(str(tmp_path / "missing.json"))
