"""Protocol round trips, and clear rejection of broken frames."""

from __future__ import annotations

import io
import json
import marshal
import struct

import pytest

from mypy_split.protocol import (
    HEAD_START_SCC,
    HeadStart,
    PROTOCOL_VERSION,
    Bodies,
    CheckScc,
    ErrorRecord,
    GraphData,
    Hello,
    ImplementationDone,
    InterfaceDone,
    Message,
    ProtocolError,
    Ready,
    Shutdown,
    TakeBodies,
    TaskFailed,
    decode,
    encode,
)
from mypy_split.framing import FrameReader, read_message
from mypy_split.header_values import JsonValue, stored_orders
from mypy_split.report_records import CoberturaPackageData, FileCounts, TaskReports

SAMPLES: list[Message] = [
    Hello(version=PROTOCOL_VERSION, argv=["-p", "pkg", "--strict"], cwd="/tmp/project"),
    Ready(version=PROTOCOL_VERSION, pid=1234, ready_at=12.5),
    Ready(version=PROTOCOL_VERSION, pid=1, error=["plugin.py: error: boom"]),
    GraphData(
        states=[b"\x00\x01binary", b""],
        missing_modules={"gone": 1},
        from_cache=["a", "b"],
        sccs=[(0, ["a"], [], "0a1b"), (1, ["b", "c"], [0], "")],
    ),
    CheckScc(
        scc_id=7,
        one_piece=False,
        expected_hashes={"a": "ff00"},
        module_ids=["b", "c"],
        suppressed_opts=[b"x", b""],
        import_errors=[[b"e1", b"e2"], []],
    ),
    CheckScc(
        scc_id=8,
        one_piece=False,
        expected_hashes={},
        module_ids=["b", "c", "d"],
        suppressed_opts=[b"", b"", b""],
        import_errors=[[], [], []],
        shared=True,
        helper=True,
        collect_garbage=False,
    ),
    TakeBodies(scc_id=8),
    Bodies(scc_id=8, module_ids=["c", "d"]),
    Bodies(scc_id=8, module_ids=[]),
    Bodies(scc_id=8, module_ids=["b", "c", "d"], forks=2),
    ImplementationDone(
        scc_id=8, errors={}, missing_stub_packages=[], seconds=0.1,
        indirect={"c": (["a", "b"], ["gone"]), "d": ([], [])},
    ),
    ImplementationDone(
        scc_id=8, errors={}, missing_stub_packages=[], seconds=0.1,
        forked_spans=[[("implementation", 1.5, 2.0)], []],
    ),
    CheckScc(
        scc_id=9,
        one_piece=True,
        expected_hashes={},
        module_ids=["b", "c"],
        suppressed_opts=[b"x", b""],
        import_errors=[[b"e1"], []],
        raw_trees=[b"tree of b", b""],
        stats=[(33188, 12, 34, 1, 1000, 1000, 56, 1.5, 1700000000.123456, 1700000000.25), None],
        imports_ignored=[{3: ["deprecated", "import-untyped"], 12: []}, {}],
    ),
    InterfaceDone(
        scc_id=7, interface_hashes={"b": "00", "c": "11"}, seconds=0.25, spans=[("parse", 1.5, 2.25)]
    ),
    CheckScc(
        scc_id=9,
        one_piece=True,
        expected_hashes={"a": "ff00", "r": "01"},
        module_ids=["d"],
        suppressed_opts=[b"o"],
        import_errors=[[b"e"]],
        recheck=[2, 4],
        recheck_modules=["r", "s", "t"],
        recheck_opts=[b"r1", b"", b"t1"],
        collect_garbage=False,
        results_together=True,
        hold_results=True,
        stored_orders={"defs": [("names", "defs.Color", [["RED", "BLUE"]]), ("keys", "defs.Options", [["b", "a"]])]},
    ),
    InterfaceDone(
        scc_id=9, interface_hashes={"d": "22"}, seconds=0.5, sensitivity=2,
        stored_orders={
            "d": [
                ("types", "d.current", [["zeta", "alpha"], ["y", "x"]]), ("module", "d", []),
                ("definitions", "d.alias", [["=", "", "f:d.target", "o:d.over#1", "d:d.over#impl"]]),
            ]
        },
    ),
    ImplementationDone(
        scc_id=7,
        errors={
            "b": [
                ErrorRecord("b.py", 3, 4, 3, 9, "error", 'Name "x" is not defined', "name-defined"),
                ErrorRecord("b.py", 3, -1, -1, -1, "note", "See https://example", None, only_once=True),
            ],
            "c": [],
        },
        missing_stub_packages=["types-requests"],
        seconds=1.5,
        fine_grained_deps={"<b.f>": ["b", "c.g"], "<c>": []},
        spans=[("implementation", 3.0, 4.5)],
    ),
    TaskFailed(scc_id=7, blocker=True, lines=["b.py:1: error: invalid syntax"]),
    Shutdown(),
    Hello(version=PROTOCOL_VERSION, argv=["app.py"], cwd="/p", cache_dir="/c", report_root="/tmp/r"),
    Hello(version=PROTOCOL_VERSION, argv=["app.py"], cwd="/p", head_start=True),
    HeadStart(
        modules=[
            {
                "id": "typing", "path": "/ts/typing.pyi", "source_hash": "ab12", "ignore_all": True,
                "dependencies": ["builtins", "collections"], "suppressed": [], "priorities": {"builtins": 5},
                "dep_lines": {"builtins": 1},
            }
        ],
        one_piece=False,
    ),
    HeadStart(modules=[], declined="pkg.typing is among the sources"),
    InterfaceDone(scc_id=HEAD_START_SCC, interface_hashes={"typing": "00ff"}, seconds=1.2),
    ImplementationDone(
        scc_id=3,
        errors={},
        missing_stub_packages=[],
        seconds=0.5,
        reports=TaskReports(
            folder="/tmp/r/scc-3-x",
            line_counts=[("pkg.b", [4, 9, 1, 2]), ("pkg.a", [0, 3, 0, 0])],
            any_exprs=[("pkg.b", [1, 7])],
            types_of_anys=[("pkg.b", {1: 2, 7: 1}), ("pkg.a", {})],
            covered_lines=[("/p/pkg/b.py", [1, 2, 5]), ("/p/pkg/a.py", [])],
            xml_files=[FileCounts("pkg/b.py", "pkg.b", [3, 1, 0, 4, 1])],
            precision_files=[FileCounts("pkg/b.py", "pkg.b", [3, 1, 0, 4, 1])],
            cobertura=[CoberturaPackageData("pkg", 9, 7, [("b.py", '<class name="b.py"/>')])],
        ),
    ),
]


@pytest.mark.parametrize("message", SAMPLES, ids=lambda m: type(m).__name__)
def test_round_trip(message: Message) -> None:
    frame = encode(message)
    assert decode(frame[4:]) == message
    assert read_message(io.BytesIO(frame)) == message


def test_frame_reader_splits_a_stream_at_any_boundary() -> None:
    stream = b"".join(encode(message) for message in SAMPLES)
    for chunk_size in (1, 3, 7, 64, len(stream)):
        reader = FrameReader()
        received: list[Message] = []
        for start in range(0, len(stream), chunk_size):
            received.extend(reader.feed(stream[start : start + chunk_size]))
        assert received == SAMPLES
        assert reader.pending == 0


def test_clean_end_of_stream_is_none() -> None:
    assert read_message(io.BytesIO(b"")) is None


@pytest.mark.parametrize("cut", [1, 4, 6, 20])
def test_truncated_frame_is_rejected(cut: int) -> None:
    frame = encode(SAMPLES[0])
    with pytest.raises(ProtocolError, match="ended inside a frame"):
        read_message(io.BytesIO(frame[:cut]))


def test_unknown_kind_is_rejected() -> None:
    header = marshal.dumps({})
    body = struct.pack(">B", 99) + struct.pack(">I", len(header)) + header
    with pytest.raises(ProtocolError, match="unknown message kind 99"):
        decode(body)


def test_garbage_header_is_rejected() -> None:
    body = struct.pack(">B", Hello.KIND) + struct.pack(">I", 5) + b"\xff\xfe{{{"
    with pytest.raises(ProtocolError, match="bad header"):
        decode(body)


def test_missing_fields_are_rejected() -> None:
    header = b"{}"
    body = struct.pack(">B", Hello.KIND) + struct.pack(">I", len(header)) + header
    with pytest.raises(ProtocolError, match="bad Hello message"):
        decode(body)


def test_a_ready_message_of_an_older_version_still_decodes() -> None:
    """Its version tells the coordinator to retire that worker: it must be read, without the newer fields."""
    header = b'{"version": 12, "pid": 7, "error": []}'
    body = struct.pack(">B", Ready.KIND) + struct.pack(">I", len(header)) + header
    assert decode(body) == Ready(version=12, pid=7, ready_at=0.0)


def test_wrong_field_types_are_rejected() -> None:
    header = b'{"version": "1", "argv": [], "cwd": "/", "cache_dir": null}'
    body = struct.pack(">B", Hello.KIND) + struct.pack(">I", len(header)) + header
    with pytest.raises(ProtocolError, match="expected an integer"):
        decode(body)


def test_attachments_must_match_the_header() -> None:
    message = SAMPLES[4]
    frame = encode(message)
    with pytest.raises(ProtocolError):
        decode(frame[4:-1] + b"")  # last attachment cut short


def test_per_module_lists_must_match_the_modules() -> None:
    task = CheckScc(
        scc_id=1, one_piece=False, expected_hashes={}, module_ids=["a", "b"], suppressed_opts=[b"", b""],
        import_errors=[[], []], imports_ignored=[{1: ["import"]}],
    )
    with pytest.raises(ProtocolError, match="per-module lists"):
        decode(encode(task)[4:])


def test_oversized_frame_is_rejected() -> None:
    with pytest.raises(ProtocolError, match="too large"):
        FrameReader().feed(struct.pack(">I", (1 << 31) + 1))


def test_bad_error_record_is_rejected() -> None:
    with pytest.raises(ProtocolError, match="bad error record"):
        ErrorRecord.from_json(["f", 1, 2])


def test_bad_report_data_is_rejected() -> None:
    message = SAMPLES[-1]
    assert isinstance(message, ImplementationDone) and message.reports is not None
    header = message.header()
    reports = header["reports"]
    assert isinstance(reports, dict)
    reports["line_counts"] = [["pkg.b", ["4"]]]
    body = marshal.dumps(header)
    frame = struct.pack(">B", ImplementationDone.KIND) + struct.pack(">I", len(body)) + body
    with pytest.raises(ProtocolError, match="expected an integer"):
        decode(frame)


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(marshal.dumps([1, 2]), id="not-a-dict"),
        pytest.param(marshal.dumps({"scc_id": 17})[:-3], id="cut-short"),
        pytest.param(marshal.dumps({"scc_id": (17,), "blocker": False, "lines": []}), id="tuple-for-int"),
        pytest.param(marshal.dumps({"scc_id": 17, "blocker": False, "lines": ("no",)}), id="tuple-for-list"),
        pytest.param(json.dumps({"scc_id": 17, "blocker": False, "lines": []}).encode(), id="json"),
    ],
)
def test_headers_with_values_json_has_no_kind_for_are_rejected(header: bytes) -> None:
    """marshal can carry more than JSON (tuples, sets...): a header holding anything else is a bad frame."""
    body = struct.pack(">B", TaskFailed.KIND) + struct.pack(">I", len(header)) + header
    with pytest.raises(ProtocolError):
        decode(body)


def test_the_handshake_is_json_and_the_rest_marshal() -> None:
    """A process of another version reads the handshake (JSON in every version) and so learns the version."""
    for message in SAMPLES:
        body = encode(message)[4:]
        (length,) = struct.unpack_from(">I", body, 1)
        header = body[5 : 5 + length]
        if isinstance(message, (Hello, Ready)):
            assert json.loads(header) == message.header()
        else:
            assert marshal.loads(header) == message.header()



@pytest.mark.parametrize(
    "value", [{"m": [["keys", "m.T"]]}, {"m": [["keys", "m.T", [[1]]]]}, {"m": "keys"}, [["keys", "m.T", []]]]
)
def test_malformed_order_records_are_rejected(value: JsonValue) -> None:
    """An order record is (kind, name, orders), each order a list of names (stored_order.py)."""
    with pytest.raises(ProtocolError):
        stored_orders(value)
    assert stored_orders({"m": [["keys", "m.T", [["b", "a"]]]]}) == {"m": [("keys", "m.T", [["b", "a"]])]}
