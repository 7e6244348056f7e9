"""The embedded AWS keeps large objects on disk: GetObject answers from the object's file as the answer is
sent, and a completed multipart upload is joined into the object's file part by part.

moto keeps an object over 5 MiB in a temporary file (its ``FakeKey`` spools its bytes to disk), but its
GetObject reads the whole object into memory to answer, and the local hub's server then holds those
bytes for as long as the reader takes: a function reading a 100 MB distributor file for a minute kept
100 MB of the hub's memory for that minute. ``stream_large_objects()`` makes GetObject hand back a
``FileBody`` instead: it has the bytes' length and slices (moto answers a ``Range`` by slicing) and is
read from the file, a MiB at a time under the object's lock, while the server sends it. Small objects
and every other use of an object's bytes (copies, checksums) are untouched.

When a multipart upload completes, moto joins its parts in memory (``FakeMultipart.complete``: the
parts into one ``bytearray``, again into another for the whole-object checksum, then each copied to
``bytes``) and ``put_object`` writes that into the new object's file: a 100 MB file cost the hub several
times 100 MB at once. ``join_parts_on_disk()`` makes ``complete`` hand ``put_object`` a ``JoinedParts``
instead: the parts are copied from their files into one spooled file a MiB at a time (moto disposes of
the parts before it creates the object), which the object's value setter takes as its buffer; the
ETag (the MD5 of the parts' MD5s, ``-N``) and the checksum (composite or whole-object, the algorithms
moto's ``compute_checksum`` knows, with its fallbacks) are computed as the parts are read, to the same
values moto gives. Parts themselves (UploadPart) are moto's own ``FakeKey``, spooled to disk over 5 MiB.

Both are installed by ``hub local`` only: a process running ``mock_aws`` keeps moto as it is.
"""

from __future__ import annotations

import binascii
import hashlib
import tempfile
import threading
from collections.abc import Iterable, Iterator
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


class RunningChecksum:
    """``moto.s3.utils.compute_checksum`` over bytes given in pieces: the same algorithms, fallbacks and
    output (raw, or base64 with ``encoded()``)."""

    def __init__(self, algorithm: str) -> None:
        from moto.core.compat import HAS_CRT

        self.algorithm = algorithm
        self.crc = 0
        self.crc_width = 4
        self.update_crc: Any = None
        self.digest: Any = None
        if algorithm == "SHA1":
            self.digest = hashlib.sha1(usedforsecurity=False)
        elif algorithm == "CRC32C":
            try:
                import crc32c  # type: ignore[import-not-found]

                self.update_crc = lambda data, crc: crc32c.crc32c(data, crc)
            except ImportError:
                self.update_crc = binascii.crc32
        elif algorithm == "CRC32":
            self.update_crc = binascii.crc32
        elif algorithm == "CRC64NVME" and HAS_CRT:
            from awscrt import checksums  # type: ignore[import-not-found]

            self.update_crc = checksums.crc64nvme
            self.crc_width = 8
        elif algorithm == "CRC64NVME":
            self.update_crc = binascii.crc32
        else:
            self.digest = hashlib.sha256(usedforsecurity=False)

    def update(self, data: bytes) -> None:
        if self.digest is not None:
            self.digest.update(data)
        else:
            self.crc = self.update_crc(data, self.crc)

    def raw(self) -> bytes:
        if self.digest is not None:
            return bytes(self.digest.digest())
        return int(self.crc).to_bytes(self.crc_width, "big")

    def encoded(self) -> str:
        import base64

        return base64.b64encode(self.raw()).decode()


class JoinedParts:
    """A completed multipart upload's bytes, already joined into a spooled file (moto disposes of the parts
    before it creates the object): the new object's value setter takes the file as its own buffer."""

    def __init__(self) -> None:
        from moto.s3.models import get_s3_default_key_buffer_size

        self.file: Any = tempfile.SpooledTemporaryFile(get_s3_default_key_buffer_size())  # noqa: SIM115 - the object keeps it
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def write(self, chunk: bytes) -> None:
        self.file.write(chunk)
        self.size += len(chunk)


def _complete(
    multipart: Any, body: Iterable[tuple[int, str]]
) -> tuple[JoinedParts, str, tuple[str, str, int]]:
    """``FakeMultipart.complete`` without joining: the same checks, errors, ETag and checksum."""
    from moto.s3.exceptions import EntityTooSmall, InvalidPart, MalformedXML
    from moto.s3.models import S3_UPLOAD_PART_MIN_SIZE

    algorithm = multipart.metadata.get("x-amz-checksum-algorithm") or "CRC64NVME"
    kind = multipart.metadata.get("x-amz-checksum-type") or (
        "FULL_OBJECT" if algorithm == "CRC64NVME" else "COMPOSITE"
    )
    md5s = bytearray()
    whole = RunningChecksum(algorithm)
    composite = bytearray()
    parts: list[Any] = []
    joined = JoinedParts()
    try:
        for number, etag in body:
            part = multipart.parts.get(number)
            if part is None or part.etag.replace('"', "") != etag.replace('"', ""):
                raise InvalidPart()
            if parts and parts[-1].contentsize < S3_UPLOAD_PART_MIN_SIZE:
                raise EntityTooSmall()
            md5s.extend(bytes.fromhex(part.etag.replace('"', "")))
            running = RunningChecksum(algorithm) if kind == "COMPOSITE" else whole
            for chunk in FileBody(part):
                running.update(chunk)
                joined.write(chunk)
            if kind == "COMPOSITE":
                composite.extend(running.raw())
            parts.append(part)
        if not parts:
            raise MalformedXML
    except BaseException:
        joined.file.close()  # its disk file goes now, not when collected
        raise
    if kind == "COMPOSITE":
        over_parts = RunningChecksum(algorithm)
        over_parts.update(bytes(composite))
        checksum = (kind, over_parts.encoded(), len(parts))
    else:
        checksum = (kind, whole.encoded(), 1)
    etag_of_etags = hashlib.md5(bytes(md5s), usedforsecurity=False).hexdigest()
    return joined, f"{etag_of_etags}-{len(parts)}", checksum


def join_parts_on_disk() -> None:
    """Patch moto's S3 (in this process: the local hub's embedded AWS) as described above; idempotent."""
    from moto.s3.models import FakeKey, FakeMultipart

    if getattr(FakeMultipart.complete, "joins_on_disk", False):
        return
    value = FakeKey.value  # the property (already the streaming one when stream_large_objects ran)

    def write_value(key: Any, new_value: Any) -> None:
        if not isinstance(new_value, JoinedParts):
            value.fset(key, new_value)  # type: ignore[attr-defined]
            return
        key._value_buffer.close()
        key._value_buffer = new_value.file
        key.contentsize = new_value.size

    def complete(self: Any, body: Iterable[tuple[int, str]]) -> Any:
        return _complete(self, body)

    complete.joins_on_disk = True  # type: ignore[attr-defined]
    FakeKey.value = property(value.fget, write_value)  # type: ignore[assignment, attr-defined]
    FakeMultipart.complete = complete  # type: ignore[method-assign]
