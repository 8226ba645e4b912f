"""Frames of the protocol on a pipe: written whole, read whole (blocking) or split from a byte stream.

A frame is `u32 length` + body (protocol.py says what a body holds).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import BinaryIO

from mypy_split.protocol import U32, Message, ProtocolError, decode, encode

MAX_FRAME = 1 << 31


def write_messages(stream: BinaryIO, messages: Iterable[Message]) -> None:
    """The messages' frames in one write, so that the reader wakes up once for them."""
    stream.write(b"".join(encode(message) for message in messages))
    stream.flush()


def read_message(stream: BinaryIO) -> Message | None:
    """The next message, or None at a clean end of stream (before any byte of a frame)."""
    prefix = _read_exactly(stream, U32.size, allow_eof=True)
    if prefix is None:
        return None
    (length,) = U32.unpack(prefix)
    if length > MAX_FRAME:
        raise ProtocolError(f"frame of {length} bytes is too large")
    body = _read_exactly(stream, length, allow_eof=False)
    assert body is not None
    return decode(body)


def _read_exactly(stream: BinaryIO, size: int, allow_eof: bool) -> bytes | None:
    chunks = []
    remaining = size
    while remaining:
        chunk = stream.read(remaining)
        if not chunk:
            if allow_eof and remaining == size:
                return None
            raise ProtocolError(f"stream ended inside a frame ({size - remaining} of {size} bytes)")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


class FrameReader:
    """Incremental frame splitter for non-blocking reads on the coordinator side."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Message]:
        self._buffer.extend(data)
        messages = []
        while len(self._buffer) >= U32.size:
            (length,) = U32.unpack_from(self._buffer, 0)
            if length > MAX_FRAME:
                raise ProtocolError(f"frame of {length} bytes is too large")
            if len(self._buffer) < U32.size + length:
                break
            body = bytes(self._buffer[U32.size : U32.size + length])
            del self._buffer[: U32.size + length]
            messages.append(decode(body))
        return messages

    @property
    def pending(self) -> int:
        return len(self._buffer)
