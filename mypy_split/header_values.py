"""Checked readers of the values in a message's header (JSON's kinds of values).

A header comes from another process; each reader checks the type it expects
and raises ProtocolError otherwise, so that a bad frame is reported as one.
"""

from __future__ import annotations

from typing import TypeAlias

JsonValue: TypeAlias = "None | bool | int | float | str | list[JsonValue] | dict[str, JsonValue]"
# A stretch of work in a worker: (what, start, end) in `time.monotonic()` seconds,
# one clock for every process of the machine.
TimedSpan: TypeAlias = tuple[str, float, float]
# A file's stat as `os.stat_result` takes it: mode, ino, dev, nlink, uid, gid, size, atime, mtime, ctime.
FileStat: TypeAlias = tuple[int, int, int, int, int, int, int, float, float, float]
# An order the cache does not keep (stored_order.py): kind, a symbol's full
# name, and the orders of names or keys.
OrderRecord: TypeAlias = tuple[str, str, list[list[str]]]


class ProtocolError(Exception):
    """A frame that is truncated, malformed, of unknown kind or of another version."""


def indirect(value: JsonValue) -> tuple[list[str], list[str]]:
    fields = list_value(value)
    if len(fields) != 2:
        raise ProtocolError(f"indirect dependencies need 2 lists, got {value!r}")
    return str_list(fields[0]), str_list(fields[1])


def file_stat(value: JsonValue) -> FileStat:
    fields = list_value(value)
    if len(fields) != 10:
        raise ProtocolError(f"a file stat needs 10 fields, got {value!r}")
    mode, ino, dev, nlink, uid, gid, size = (int_value(field) for field in fields[:7])
    atime, mtime, ctime = (float_value(field) for field in fields[7:])
    return (mode, ino, dev, nlink, uid, gid, size, atime, mtime, ctime)


def stored_orders_json(records: dict[str, list[OrderRecord]]) -> JsonValue:
    return {
        module_id: [[kind, name, [list(order) for order in orders]] for kind, name, orders in found]
        for module_id, found in records.items()
    }


def stored_orders(value: JsonValue) -> dict[str, list[OrderRecord]]:
    """Per module, its order records (`stored_orders_json`)."""
    records: dict[str, list[OrderRecord]] = {}
    for module_id, found in dict_value(value).items():
        module_records: list[OrderRecord] = []
        for record in list_value(found):
            fields = list_value(record)
            if len(fields) != 3:
                raise ProtocolError(f"an order record needs 3 fields, got {record!r}")
            kind, name, orders = fields
            module_records.append((str_value(kind), str_value(name), [str_list(order) for order in list_value(orders)]))
        records[module_id] = module_records
    return records


def sensitivity_level(value: JsonValue) -> int:
    """A `sensitive.Sensitivity` value: 0 (none), 1 (messages) or 2 (binding)."""
    level = int_value(value)
    if not 0 <= level <= 2:
        raise ProtocolError(f"a sensitivity is 0, 1 or 2, got {value!r}")
    return level


def spans_json(spans: list[TimedSpan]) -> JsonValue:
    return [[name, start, end] for name, start, end in spans]


def spans(value: JsonValue) -> list[TimedSpan]:
    read = []
    for item in list_value(value):
        fields = list_value(item)
        if len(fields) != 3:
            raise ProtocolError(f"a span needs 3 fields, got {item!r}")
        read.append((str_value(fields[0]), float_value(fields[1]), float_value(fields[2])))
    return read


def int_value(value: JsonValue) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProtocolError(f"expected an integer, got {value!r}")
    return value


def float_value(value: JsonValue) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ProtocolError(f"expected a number, got {value!r}")
    return float(value)


def str_value(value: JsonValue) -> str:
    if not isinstance(value, str):
        raise ProtocolError(f"expected a string, got {value!r}")
    return value


def list_value(value: JsonValue) -> list[JsonValue]:
    if not isinstance(value, list):
        raise ProtocolError(f"expected a list, got {value!r}")
    return value


def dict_value(value: JsonValue) -> dict[str, JsonValue]:
    if not isinstance(value, dict):
        raise ProtocolError(f"expected an object, got {value!r}")
    return value


def str_list(value: JsonValue) -> list[str]:
    return [str_value(item) for item in list_value(value)]
