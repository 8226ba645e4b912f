"""Transport between `dmypy-split` and its daemon: JSON frames over an AF_UNIX socket.

A frame is a 4-byte big-endian length followed by that many bytes of UTF-8
JSON holding one object.  The socket lives in a folder only its owner can
enter (0700) and is itself 0600, so no other user can talk to the daemon.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import struct
import tempfile
from typing import Any

_HEADER = struct.Struct(">I")
# A response holds at most the output of one check; anything larger is a bug.
_MAX_FRAME = 1 << 30
SOCKET_NAME = "daemon.sock"
FOLDER_PREFIX = "dmypy-split-"


class TransportError(OSError):
    """The other side hung up, timed out or sent something that is not a frame."""


def socket_folder() -> str:
    """A new private folder for the socket, under the user's runtime folder if any."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    if not base or not os.path.isdir(base):
        base = None
    # mkdtemp creates the folder with mode 0700.
    return tempfile.mkdtemp(prefix=FOLDER_PREFIX, dir=base)


def listen(folder: str) -> socket.socket:
    """Bind the daemon's listening socket inside `folder`, readable by the owner only."""
    path = os.path.join(folder, SOCKET_NAME)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    # The umask decides the mode bind() gives the socket file: no window where
    # another user could connect.
    old_umask = os.umask(0o177)
    try:
        server.bind(path)
    finally:
        os.umask(old_umask)
    os.chmod(path, 0o600)
    server.listen(8)
    return server


def remove_folder(folder: str) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def remove_socket_folder(socket_path: str) -> None:
    """Remove a dead daemon's socket folder, if the path really names one of ours."""
    folder = os.path.dirname(socket_path)
    if os.path.basename(socket_path) == SOCKET_NAME and os.path.basename(folder).startswith(FOLDER_PREFIX):
        remove_folder(folder)


def connect(path: str, timeout: float | None) -> socket.socket:
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.settimeout(timeout)
    try:
        client.connect(path)
    except OSError:
        client.close()
        raise
    return client


def send(conn: socket.socket, data: dict[str, Any]) -> None:
    payload = json.dumps(data).encode("utf-8")
    conn.sendall(_HEADER.pack(len(payload)) + payload)


def receive(conn: socket.socket) -> dict[str, Any]:
    """Read one frame; TransportError if the peer closed or sent garbage."""
    (size,) = _HEADER.unpack(_read_exactly(conn, _HEADER.size))
    if size > _MAX_FRAME:
        raise TransportError("Frame too large")
    try:
        data = json.loads(_read_exactly(conn, size).decode("utf-8"))
    except ValueError as error:
        raise TransportError("Data received is not valid JSON") from error
    if not isinstance(data, dict):
        raise TransportError(f"Data received is not a dict ({type(data).__name__})")
    return data


def _read_exactly(conn: socket.socket, size: int) -> bytes:
    chunks: list[bytes] = []
    remaining = size
    while remaining:
        try:
            chunk = conn.recv(min(remaining, 1 << 20))
        except socket.timeout as error:
            raise TransportError("Timed out waiting for the daemon") from error
        if not chunk:
            raise TransportError("No data received")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)
