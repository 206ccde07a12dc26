"""A byte stream that checks what pandas and Arrow accept silently, as the bytes pass.

The CSV reader pulls its blocks through :class:`GuardedStream`, which in one pass and in
bounded memory: hashes the stored bytes (SHA-256, for lineage), counts them (progress),
decompresses gzip with a cap on the output (no decompression bombs), strips a UTF-8 BOM,
and stops at the first invalid UTF-8 sequence or NUL byte with its line number.
"""

from __future__ import annotations

import codecs
import hashlib
import zlib
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

from mlops_core.validation.report import ViolationKind

BOM_UTF8 = b"\xef\xbb\xbf"
GZIP_MAGIC = b"\x1f\x8b"

# Magic numbers of content that is not CSV text. Checked on the first bytes only.
_BINARY_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "gzip-compressed data"),
    (b"PK\x03\x04", "a zip archive (or xlsx workbook)"),
    (b"PK\x05\x06", "an empty zip archive"),
    (b"PAR1", "a Parquet file"),
    (b"BZh", "bzip2-compressed data"),
    (b"\xfd7zXZ\x00", "xz-compressed data"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed data"),
    (b"\x04\x22\x4d\x18", "lz4-compressed data"),
    (b"ARROW1", "an Arrow IPC file"),
    (b"\xd0\xcf\x11\xe0", "an OLE2 document (xls)"),
    (b"%PDF", "a PDF document"),
    (b"\x89HDF", "an HDF5 file"),
    (b"\x93NUMPY", "a NumPy array file"),
    (b"\xff\xfe", "UTF-16 text (little endian)"),
    (b"\xfe\xff", "UTF-16 text (big endian)"),
)
# Pickle: protocol 2+ opens with 0x80 then the protocol number; joblib/skops files are
# zip or pickle underneath.
_PICKLE_PROTOCOLS = range(2, 6)


class ReadableBytes(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class StreamViolation(Exception):
    """Reading stopped: the bytes themselves break a rule. Carries the report fields."""

    def __init__(self, kind: ViolationKind, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.line = line


def sniff_binary(head: bytes) -> str | None:
    """Name the binary format the first bytes belong to, or None for text."""
    for signature, name in _BINARY_SIGNATURES:
        if head.startswith(signature):
            return name
    if len(head) >= 2 and head[0] == 0x80 and head[1] in _PICKLE_PROTOCOLS:
        return "a Python pickle (never loaded: pickles run code)"
    return None


class _BackgroundHash:
    """Feeds a hash on another thread (hashlib releases the GIL), so hashing overlaps parsing."""

    def __init__(self, digest: Any, in_flight: int = 4) -> None:
        self._digest = digest
        self._in_flight = in_flight
        self._pending: deque[Future[None]] = deque()
        self._pool: ThreadPoolExecutor | None = None

    def update(self, chunk: bytes) -> None:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sha256")
        self._pending.append(self._pool.submit(self._digest.update, chunk))
        while len(self._pending) > self._in_flight:
            self._pending.popleft().result()

    def wait(self) -> None:
        while self._pending:
            self._pending.popleft().result()

    def close(self) -> None:
        self.wait()
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None


class GuardedStream:
    """File-like ``read(n)`` over a raw stream, checking every byte once.

    ``gzip=True`` decompresses (the raw bytes are still what is hashed) and refuses to
    produce more than ``max_output_bytes``. Without it, more than ``max_output_bytes``
    raw bytes is refused too, so a wrong Content-Length cannot make us read forever.
    """

    def __init__(
        self,
        raw: ReadableBytes,
        *,
        max_output_bytes: int,
        gzip: bool = False,
        progress: Callable[[int], None] | None = None,
        raw_chunk: int = 2 << 20,
    ) -> None:
        self._raw = raw
        self._max_output = max_output_bytes
        self._inflater = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16) if gzip else None
        self._progress = progress
        self._raw_chunk = raw_chunk
        self._sha = hashlib.sha256()
        self._hashing = _BackgroundHash(self._sha)
        self._decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self._pending: bytes = b""
        self._raw_eof = False
        self._first = True
        self.raw_bytes = 0
        self.output_bytes = 0
        self.lines_before = 0  # newlines in the text handed out so far
        self.closed = False

    # -- the file-like surface pyarrow needs -----------------------------------------
    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def writable(self) -> bool:
        return False

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = 1 << 62
        if not self._pending and not self._raw_eof:
            # The common case: hand the checked chunk over as is, without copying it.
            self._fill(size)
            if len(self._pending) <= size:
                whole = self._pending
                self._pending = b""
                return whole
        while len(self._pending) < size and not self._raw_eof:
            self._fill(self._raw_chunk)
        out, self._pending = self._pending[:size], self._pending[size:]
        return out

    def peek(self, size: int) -> bytes:
        """The next ``size`` bytes of text without consuming them (for the header)."""
        while len(self._pending) < size and not self._raw_eof:
            self._fill(self._raw_chunk)
        return self._pending[:size]

    @property
    def sha256(self) -> str:
        self._hashing.wait()
        return self._sha.hexdigest()

    @property
    def exhausted(self) -> bool:
        return self._raw_eof and not self._pending

    def close(self) -> None:
        """Waits for the hash to catch up and stops its thread; the raw stream is the caller's."""
        self.closed = True
        self._hashing.close()

    # -- internals ----------------------------------------------------------------------

    def _fill(self, size: int) -> None:
        chunk = self._raw.read(max(size, 1 << 16))
        if not chunk:
            self._raw_eof = True
            text = b""
            if self._inflater is not None:
                if not self._inflater.eof:
                    raise StreamViolation(
                        ViolationKind.MALFORMED_FILE,
                        "the gzip stream ends before its end marker: the file is truncated "
                        "(an interrupted upload or copy); upload it again",
                    )
                text = self._inflater.flush()
            self._check_text(text, final=True)
            self._pending += text
            return
        self.raw_bytes += len(chunk)
        self._hashing.update(chunk)
        if self._progress is not None:
            self._progress(self.raw_bytes)
        text = self._inflate(chunk) if self._inflater is not None else chunk
        # The first text can come late: a gzip header (with the file's name) may fill a chunk.
        if self._first and text:
            self._first = False
            if text.startswith(BOM_UTF8):
                text = text[len(BOM_UTF8) :]
        self._check_text(text, final=False)
        self._pending += text

    def _inflate(self, chunk: bytes) -> bytes:
        """Decompress a raw chunk, member after member (``cat a.gz b.gz`` is one gzip file)."""
        assert self._inflater is not None
        pieces: list[bytes] = []
        produced = 0
        data = chunk
        while data:
            if self._inflater.eof:
                if not data.strip(b"\x00"):
                    break  # zero padding after the last member, which gzip tools ignore too
                if not GZIP_MAGIC.startswith(data[:2]):
                    raise StreamViolation(
                        ViolationKind.MALFORMED_FILE,
                        f"bytes after the end of the gzip stream (from compressed byte "
                        f"{self.raw_bytes - len(data)}): the file is not one gzip file",
                    )
                self._inflater = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)
            try:
                # max_length caps each call's output: a bomb cannot expand past the cap.
                room = self._max_output - self.output_bytes - produced + 1
                piece = self._inflater.decompress(data, max(room, 1))
            except zlib.error as exc:
                raise StreamViolation(
                    ViolationKind.MALFORMED_FILE, f"the gzip stream is corrupt: {exc}"
                ) from exc
            if self._inflater.unconsumed_tail:
                self._too_large()
            pieces.append(piece)
            produced += len(piece)
            data = self._inflater.unused_data if self._inflater.eof else b""
        return b"".join(pieces)

    def _check_text(self, text: bytes, *, final: bool) -> None:
        self.output_bytes += len(text)
        if self.output_bytes > self._max_output:
            self._too_large()
        nul = text.find(b"\x00")
        if nul >= 0:
            line = self._line_at(text, nul)
            raise StreamViolation(
                ViolationKind.NUL_BYTE,
                f"NUL byte at line {line}: the file is binary or was written with a wrong encoding",
                line,
            )
        try:
            self._decoder.decode(text, final)
        except UnicodeDecodeError as exc:
            # exc.start counts from the bytes the decoder still held from the previous chunk.
            held = len(exc.object) - len(text)
            line = self._line_at(text, max(exc.start - held, 0))
            raise StreamViolation(
                ViolationKind.INVALID_ENCODING,
                f"invalid UTF-8 at line {line} (byte 0x{exc.object[exc.start]:02x}): save the file as UTF-8",
                line,
            ) from exc
        self.lines_before += text.count(b"\n")

    def _line_at(self, text: bytes, offset: int) -> int:
        return self.lines_before + text.count(b"\n", 0, offset) + 1

    def _too_large(self) -> None:
        if self._inflater is not None:
            raise StreamViolation(
                ViolationKind.DECOMPRESSED_TOO_LARGE,
                f"the gzip content expands past max_bytes ({self._max_output} bytes); "
                "raise max_bytes in the contract or split the file",
            )
        raise StreamViolation(
            ViolationKind.OBJECT_TOO_LARGE,
            f"the object is larger than max_bytes ({self._max_output} bytes)",
        )
