"""Streaming row sources over a binary file-like object (an S3 StreamingBody, a file, BytesIO).

A CSV is read in 1 MiB chunks and split into lines as bytes, so the byte offset at which each
record ends is known exactly: a checkpoint resumes with an S3 ranged GET from there. An XLSX needs a
seekable file, so it is spooled to a temporary file in chunks, never into memory.
"""

from __future__ import annotations

import codecs
import csv
import itertools
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from operator import itemgetter, methodcaller
from typing import IO, Any, Protocol

from pos_ingest.layout import HEADER_SEARCH_ROWS, Layout, LayoutError, build_layout, choose_delimiter
from pos_ingest.profile import DistributorProfile

CHUNK_SIZE = 1 << 14  # small chunks keep a chunk's cells (and what is made of them) in the CPU cache
SAMPLE_SIZE = 1 << 16
_FALLBACK_ERRORS = "pos-cp1252-fallback"


def _decode_fallback(error: UnicodeError) -> tuple[str, int]:
    """A byte not valid in the detected encoding is read as cp1252 (latin-1 where cp1252 has a gap)."""
    if not isinstance(error, UnicodeDecodeError):
        raise error
    bad = error.object[error.start : error.end]
    try:
        return bad.decode("cp1252"), error.end
    except UnicodeDecodeError:
        return bad.decode("latin-1"), error.end


codecs.register_error(_FALLBACK_ERRORS, _decode_fallback)
csv.field_size_limit(1 << 20)


@dataclass(frozen=True)
class Position:
    """Where a source stands: the last record number consumed (1-based, title and header rows included)
    and, for a CSV, the byte offset of the next record in the original object (None: resume by skipping).
    ``pending`` holds the records read ahead to recognise footer lines."""

    row: int
    byte_offset: int | None
    pending: tuple[tuple[int, tuple[str, ...]], ...] = ()


class Batch:
    """Data records with their record numbers (a ``range`` where they run on). A batch cut from a
    quote-free CSV chunk in which every line has the header's width is columnar: its cells lie in one
    flat list, a column is a slice of it (no list per row is built unless a row is asked for)."""

    __slots__ = ("_flat", "_rows", "_start", "numbers", "width")

    def __init__(
        self,
        numbers: Sequence[int],
        rows: list[list[str]] | None = None,
        *,
        flat: list[str] | None = None,
        start: int = 0,
        width: int = 0,
    ) -> None:
        self.numbers = numbers
        self._rows = rows
        self._flat = flat
        self._start = start
        self.width = width

    def __len__(self) -> int:
        return len(self.numbers)

    @property
    def columnar(self) -> bool:
        return self._flat is not None

    @property
    def rows(self) -> list[list[str]]:
        if self._rows is None:
            assert self._flat is not None
            w, s = self.width, self._start
            flat = self._flat
            self._rows = [flat[(s + i) * w : (s + i + 1) * w] for i in range(len(self.numbers))]
        return self._rows

    def column(self, index: int) -> list[str]:
        if self._flat is not None:
            w = self.width
            return self._flat[self._start * w + index : (self._start + len(self.numbers)) * w : w]
        return list(map(itemgetter(index), self._rows or ()))

    def row_tuples(self) -> Iterator[tuple[str, ...]]:
        if self._flat is not None:
            return zip(*(self.column(i) for i in range(self.width)), strict=True)
        return map(tuple, self._rows or ())

    def split(self, at: int) -> tuple[Batch, Batch]:
        if self._flat is not None:
            return (
                Batch(self.numbers[:at], flat=self._flat, start=self._start, width=self.width),
                Batch(self.numbers[at:], flat=self._flat, start=self._start + at, width=self.width),
            )
        rows = self._rows or []
        return Batch(self.numbers[:at], rows[:at]), Batch(self.numbers[at:], rows[at:])


class RowSource(Protocol):
    layout: Layout
    footer_rows: int

    def next_batch(self, limit: int) -> Batch:
        """Up to ``limit`` data records and their record numbers; an empty batch at the end."""
        ...

    def position(self) -> Position: ...

    def close(self) -> None: ...


class _Utf16Transcoder:
    """Reads a UTF-16 stream (Excel's 'Unicode text') as UTF-8 bytes. Byte offsets are then not kept."""

    def __init__(self, raw: IO[bytes], head: bytes = b"") -> None:
        self._raw = raw
        self._head = head
        self._decoder = codecs.getincrementaldecoder("utf-16")(errors="replace")

    def read(self, size: int = -1) -> bytes:
        data = self._head + self._raw.read(size)
        self._head = b""
        return self._decoder.decode(data, final=not data).encode("utf-8")


class _RecordChunks:
    """Records from a stream, a chunk at a time, with the byte offset after any record.

    A chunk ends at a line break outside quotes (the quote count before it is even), so no record
    spans two chunks. A chunk without any quote character is split with ``str.split`` (the same
    records csv.reader gives for such lines, many times faster); others go through csv.reader.
    """

    def __init__(
        self, stream: Any, head: bytes, start_offset: int, decode: Any, delimiter: str, width: int
    ) -> None:
        self._stream = stream
        self._width = width
        self._count = methodcaller("count", delimiter)
        self._rest = head
        self._offset = start_offset
        self._decode = decode
        self._split = methodcaller("split", delimiter)
        self._delimiter = delimiter
        self.chunk_start = start_offset
        self.chunk_data = b""
        self.chunk_quoted = False

    def __iter__(self) -> Iterator[Batch]:
        while True:
            data = self._next_piece()
            if data is None:
                return
            self.chunk_data = data
            self.chunk_start = self._offset
            self._offset += len(data)
            self.chunk_quoted = b'"' in data
            if self.chunk_quoted:
                rows = list(
                    csv.reader(map(self._decode, data.splitlines(keepends=True)), delimiter=self._delimiter)
                )
                yield Batch(range(len(rows)), rows)
                continue
            lines = self._lines(data)
            separators = set(map(self._count, lines))
            if len(separators) == 1 and separators.pop() == self._width - 1:
                flat = self._delimiter.join(lines).split(self._delimiter)
                yield Batch(range(len(lines)), flat=flat, width=self._width)
            else:
                yield Batch(range(len(lines)), list(map(self._split, lines)))

    def _lines(self, data: bytes) -> list[str]:
        """The chunk's lines as ``bytes.splitlines`` cuts them (at LF, CRLF and CR only), decoded. The
        chunk is decoded in one call (a line break never belongs to a multi-byte character nor to an
        invalid sequence, so its lines decode as they would one by one) and cut at LF; a CR that is not
        part of a CRLF sends it the slow way."""
        text = self._decode(data)
        if "\r" in text:
            text = text.replace("\r\n", "\n")
            if "\r" in text:
                return list(map(self._decode, data.splitlines()))
        lines = text.split("\n")
        if not lines[-1]:
            lines.pop()
        return lines

    def _next_piece(self) -> bytes | None:
        buffer = self._rest
        while True:
            data = self._stream.read(CHUNK_SIZE)
            if not data:
                self._rest = b""
                return buffer or None
            buffer += data
            cut = (buffer.rfind(b"\n") + 1) or (buffer.rfind(b"\r") + 1)
            while cut and buffer.count(b'"', 0, cut) % 2:
                cut = buffer.rfind(b"\n", 0, cut - 1) + 1  # inside a quoted field: an earlier break
            if cut:
                self._rest = buffer[cut:]
                return buffer[:cut]

    def offset_after(self, records: int) -> int:
        """Byte offset after the first ``records`` records of the current chunk."""
        data = self.chunk_data
        if not self.chunk_quoted:
            return self.chunk_start + sum(map(len, data.splitlines(keepends=True)[:records]))
        lines = data.splitlines(keepends=True)
        reader = csv.reader(map(self._decode, lines), delimiter=self._delimiter)
        for _ in itertools.islice(reader, records):
            pass
        return self.chunk_start + sum(map(len, lines[: reader.line_num]))


def _read_sample(stream: Any) -> bytes:
    parts: list[bytes] = []
    size = 0
    while size < SAMPLE_SIZE:
        part = stream.read(SAMPLE_SIZE - size)
        if not part:
            break
        parts.append(part)
        size += len(part)
    return b"".join(parts)


def _detect_encoding(head: bytes, profile: DistributorProfile) -> tuple[str, int]:
    """(encoding, BOM length). utf-16 is transcoded; cp1252 stands for latin-1 too (a superset in use)."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or profile.encoding == "utf-16":
        return "utf-16", 0
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8", len(codecs.BOM_UTF8)
    if profile.encoding in ("utf-8", "utf-8-sig"):
        return "utf-8", 0
    if profile.encoding in ("cp1252", "latin-1"):
        return "cp1252", 0
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return "cp1252", 0
    return "utf-8", 0


def _decoder(encoding: str) -> Any:
    return methodcaller("decode", "utf-8" if encoding == "utf-16" else encoding, _FALLBACK_ERRORS)


class _BatchedSource:
    """Batches of data records from ``_take``, holding back the profile's footer lines at the end."""

    layout: Layout
    footer_rows: int
    _row: int
    _pending: deque[tuple[int, list[str]]]

    def _take(self, limit: int) -> Batch:
        """Up to ``limit`` records (numbers not yet set); an empty batch at the end."""
        raise NotImplementedError

    def next_batch(self, limit: int) -> Batch:
        keep = self.layout.footer_lines
        if not keep:
            batch = self._take(limit)
            first = self._row + 1
            self._row += len(batch)
            batch.numbers = range(first, self._row + 1)
            return batch
        numbers: list[int] = []
        out: list[list[str]] = []
        pending = self._pending
        while len(out) < limit:
            more = self._take(limit - len(out))
            if not len(more):
                self.footer_rows += len(pending)
                pending.clear()
                break
            for row in more.rows:
                self._row += 1
                pending.append((self._row, row))
                if len(pending) > keep:
                    number, kept = pending.popleft()
                    numbers.append(number)
                    out.append(kept)
        return Batch(numbers, out)

    def _pending_rows(self) -> tuple[tuple[int, tuple[str, ...]], ...]:
        return tuple((n, tuple(r)) for n, r in self._pending)


class CsvSource(_BatchedSource):
    """Delimited text. Detects encoding, delimiter, header row and conventions unless a layout is given."""

    def __init__(
        self,
        stream: IO[bytes],
        profile: DistributorProfile,
        *,
        layout: Layout | None = None,
        start: Position | None = None,
    ) -> None:
        self.footer_rows = 0
        raw: Any = stream
        head = b""
        offset = 0
        if layout is None:
            head = _read_sample(raw)
            encoding, bom = _detect_encoding(head, profile)
            if encoding == "utf-16":
                raw = _Utf16Transcoder(raw, head)
                head, bom = raw.read(0), 0
            decode = _decoder(encoding)
            body = head[bom:]
            complete = body[: (body.rfind(b"\n") + 1) or len(body)]
            sample_lines = complete.splitlines(keepends=True)
            texts = [decode(line) for line in sample_lines]
            delimiter, rows = choose_delimiter(texts, profile)
            layout = build_layout(rows, profile, file_format="csv", encoding=encoding, delimiter=delimiter)
            header_lines = _lines_for_records(texts, delimiter, layout.header_row)
            offset = bom + sum(map(len, sample_lines[:header_lines]))
            head = head[offset:]
            self._row = layout.header_row
        else:
            if layout.encoding == "utf-16":
                raw = _Utf16Transcoder(raw)
            elif start is not None and start.byte_offset is not None:
                offset = start.byte_offset
            self._row = 0
        self.layout = layout
        self.data_offset = offset  # where the records after the header (or the resume point) begin
        self._offsets_valid = layout.encoding != "utf-16"
        self._chunks = _RecordChunks(
            raw, head, offset, _decoder(layout.encoding), layout.delimiter, layout.width
        )
        self._iterator = iter(self._chunks)
        self._chunk = Batch([])
        self._index = 0
        self._pending: deque[tuple[int, list[str]]] = deque()
        if start is not None:
            if not offset:  # no byte offset to start from: read past the records done before
                skip = start.row
                while skip:
                    taken = len(self._take(skip))
                    if not taken:
                        break
                    skip -= taken
            self._row = start.row
            self._pending.extend((n, list(r)) for n, r in start.pending)

    def _take(self, limit: int) -> Batch:
        if self._index >= len(self._chunk):
            chunk = next(self._iterator, None)
            if chunk is None:
                return Batch([])
            self._chunk = chunk
            self._index = 0
        if self._index == 0 and limit >= len(self._chunk):
            taken = self._chunk
        else:
            _, rest = self._chunk.split(self._index)
            taken, _ = rest.split(limit) if limit < len(rest) else (rest, None)
        self._index += len(taken)
        return taken

    def position(self) -> Position:
        offset = self._chunks.offset_after(self._index) if self._offsets_valid else None
        return Position(self._row, offset, self._pending_rows())

    def close(self) -> None:
        return None


def _lines_for_records(lines: list[str], delimiter: str, records: int) -> int:
    reader = csv.reader(lines, delimiter=delimiter)
    for _ in range(records):
        next(reader, None)
    return reader.line_num


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat(" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


class XlsxSource(_BatchedSource):
    """The first (or the profile's) worksheet of a workbook, read with openpyxl in read-only mode."""

    def __init__(
        self,
        stream: IO[bytes],
        profile: DistributorProfile,
        *,
        layout: Layout | None = None,
        start: Position | None = None,
    ) -> None:
        import tempfile

        import openpyxl  # heavy: imported only when a workbook arrives

        self.footer_rows = 0
        self._spool = tempfile.TemporaryFile(suffix=".xlsx")  # noqa: SIM115 - closed in close()
        limit, spooled = profile.max_workbook_mb * 1024 * 1024, 0
        while chunk := stream.read(CHUNK_SIZE):
            spooled += len(chunk)
            if spooled > limit:
                self._spool.close()
                raise LayoutError(
                    f"workbook larger than {profile.max_workbook_mb} MiB: send it as CSV, which is streamed"
                )
            self._spool.write(chunk)
        self._spool.seek(0)
        self._book = openpyxl.load_workbook(self._spool, read_only=True, data_only=True)
        sheet = self._book[profile.sheet] if profile.sheet else self._book.worksheets[0]
        if layout is None:
            head = [
                [_cell_text(v) for v in row]
                for row in sheet.iter_rows(max_row=HEADER_SEARCH_ROWS + 50, values_only=True)
            ]
            layout = build_layout(head, profile, file_format="xlsx", encoding="xlsx", delimiter="")
        self.layout = layout
        self._row = layout.header_row if start is None else start.row
        self._rows = sheet.iter_rows(min_row=self._row + 1, values_only=True)
        self._pending: deque[tuple[int, list[str]]] = deque(
            (n, list(r)) for n, r in (start.pending if start else ())
        )

    def _take(self, limit: int) -> Batch:
        rows = [[_cell_text(v) for v in values] for values in itertools.islice(self._rows, limit)]
        return Batch(range(len(rows)), rows)

    def position(self) -> Position:
        return Position(self._row, None, self._pending_rows())

    def close(self) -> None:
        self._book.close()
        self._spool.close()


def open_source(
    stream: IO[bytes],
    profile: DistributorProfile,
    *,
    file_name: str = "",
    layout: Layout | None = None,
    start: Position | None = None,
) -> RowSource:
    """A row source for a CSV or XLSX object. On resume pass the checkpoint's layout and position; for a
    CSV with a byte offset, ``stream`` must start at that offset (an S3 ranged GET or a seek)."""
    is_xlsx = (layout.file_format == "xlsx") if layout else file_name.lower().endswith((".xlsx", ".xlsm"))
    if is_xlsx:
        return XlsxSource(stream, profile, layout=layout, start=start)
    return CsvSource(stream, profile, layout=layout, start=start)
