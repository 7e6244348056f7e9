"""The embedded AWS answers GetObject of a large object from the object's file, as the answer is sent.

moto keeps an object over 5 MiB in a temporary file (its ``FakeKey`` spools its bytes to disk), but its
GetObject reads the whole object into memory to answer, and the local hub's server then holds those
bytes for as long as the reader takes: a function reading a 100 MB distributor file for a minute kept
100 MB of the hub's memory for that minute. ``stream_large_objects()`` makes GetObject hand back a
``FileBody`` instead: it has the bytes' length and slices (moto answers a ``Range`` by slicing) and is
read from the file, a MiB at a time under the object's lock, while the server sends it. Small objects
and every other use of an object's bytes (copies, multipart joins, checksums) are untouched.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

CHUNK = 1 << 20
_answering = threading.local()


class FileBody:
    """Bytes ``start``..``stop`` of a moto object whose buffer is on disk, read as they are sent."""

    def __init__(self, key: Any, start: int = 0, stop: int | None = None) -> None:
        self.key = key
        self.start = start
        self.stop = int(key.contentsize) if stop is None else stop

    def __len__(self) -> int:
        return max(0, self.stop - self.start)

    def __bool__(self) -> bool:
        return len(self) > 0

    def __getitem__(self, index: slice) -> FileBody:
        if not isinstance(index, slice) or index.step not in (None, 1):
            raise TypeError("a FileBody is sliced by byte ranges only")
        start, stop, _ = index.indices(len(self))
        return FileBody(self.key, self.start + start, self.start + max(start, stop))

    def __iter__(self) -> Iterator[bytes]:
        position = self.start
        while position < self.stop:
            with self.key.lock:
                self.key._value_buffer.seek(position)
                chunk = self.key._value_buffer.read(min(CHUNK, self.stop - position))
            if not chunk:
                return
            position += len(chunk)
            yield chunk

    def __bytes__(self) -> bytes:
        return b"".join(self)


def stream_large_objects() -> None:
    """Patch moto's S3 (in this process: the local hub's embedded AWS) as described above; idempotent."""
    from moto.s3.models import FakeKey
    from moto.s3.responses import S3Response

    if getattr(S3Response.get_object, "streams_large_objects", False):
        return
    value = FakeKey.value  # the property: its getter reads the whole object

    def read_value(key: Any) -> Any:
        if getattr(_answering, "get", False) and getattr(key._value_buffer, "_rolled", False):
            return FileBody(key)
        return value.fget(key)  # type: ignore[attr-defined]

    answer = S3Response.get_object

    def get_object(self: Any) -> Any:
        _answering.get = True
        try:
            return answer(self)
        finally:
            _answering.get = False

    get_object.streams_large_objects = True  # type: ignore[attr-defined]
    FakeKey.value = property(read_value, value.fset)  # type: ignore[assignment, attr-defined]
    S3Response.get_object = get_object  # type: ignore[method-assign]
