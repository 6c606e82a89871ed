"""Length-prefixed pickled messages between the server and its own detector process.

Only the two ends of one private socket pair ever read these frames: a process never unpickles
bytes that came from anyone but its own parent or child.
"""

from __future__ import annotations

import asyncio
import pickle
import struct

_LENGTH = struct.Struct(">I")


def encode(message: object) -> bytes:
    """One frame: four bytes of length, then the pickled message."""
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(data)) + data


async def read_frame(reader: asyncio.StreamReader) -> object | None:
    """The next message, or None when the other end has closed the socket."""
    try:
        head = await reader.readexactly(_LENGTH.size)
        (size,) = _LENGTH.unpack(head)
        message: object = pickle.loads(await reader.readexactly(size))
        return message
    except asyncio.IncompleteReadError:
        return None
