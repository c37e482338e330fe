"""The local spool: decisions kept on disk while the database is unavailable.

A spool is a directory of segment files. Each store process appends to its own segment,
``<uuid>.spool``, and holds an exclusive ``flock`` on it while the file is open; a segment
whose lock can be taken belongs to no live process (its writer crashed, or finished) and may be
replayed by anyone.

Record format, appended with one ``write`` and made durable with ``fdatasync`` before
:meth:`Spool.append` returns::

    b"FSR1" | payload length (uint32, big-endian) | CRC-32 of payload (uint32) | payload

A crash can leave only the LAST record of a segment torn (a process never appends after a
failed write, and a restarted one opens a new segment), so :func:`read_segment` stops at the
first record whose header, length or CRC is wrong and reports the bytes it skipped.
Segments are never edited in place: once replayed into the database they are deleted whole
(``unlink``, then ``fsync`` of the directory), which is the atomic "truncate".
"""

from __future__ import annotations

import fcntl
import os
import struct
import threading
import uuid
import zlib
from dataclasses import dataclass
from pathlib import Path

from fintwin.exceptions import StoreError

__all__ = ["Segment", "Spool", "read_segment"]

MAGIC = b"FSR1"
_HEADER = struct.Struct(">4sII")
SUFFIX = ".spool"


@dataclass(frozen=True, slots=True)
class SegmentContent:
    """What a segment holds: complete records, and how much of a torn tail was skipped."""

    records: list[tuple[int, bytes]]  # (offset of the record, payload)
    torn_bytes: int


def encode(payload: bytes) -> bytes:
    return _HEADER.pack(MAGIC, len(payload), zlib.crc32(payload)) + payload


def read_segment(path: Path) -> SegmentContent:
    """The intact records of a segment, stopping at the first torn or corrupt one."""
    data = path.read_bytes()
    records = []
    offset = 0
    while offset + _HEADER.size <= len(data):
        magic, length, crc = _HEADER.unpack_from(data, offset)
        start = offset + _HEADER.size
        payload = data[start : start + length]
        if magic != MAGIC or len(payload) != length or zlib.crc32(payload) != crc:
            break
        records.append((offset, payload))
        offset = start + length
    return SegmentContent(records, len(data) - offset)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Segment:
    """An open segment file whose ``flock`` this process holds."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self.fd = fd
        self.size = os.fstat(fd).st_size

    def read_at(self, offset: int) -> bytes:
        """The payload of the record at ``offset`` (written by this process, so intact)."""
        header = os.pread(self.fd, _HEADER.size, offset)
        _, length, _ = _HEADER.unpack(header)
        return os.pread(self.fd, length, offset + _HEADER.size)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # releases the flock
            self.fd = -1

    def discard(self) -> None:
        """Delete the segment (durably), then release it."""
        try:
            self.path.unlink()
            _fsync_dir(self.path.parent)
        except FileNotFoundError:
            pass  # another drainer deleted it first: the same records are in the database
        self.close()


def _lock(path: Path, flags: int) -> Segment | None:
    try:
        fd = os.open(path, flags, 0o600)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return Segment(path, fd)


class Spool:
    """Append decisions durably to this process's segment; hand over others' orphans.

    Parameters
    ----------
    directory : str or Path
        The spool directory (created if missing); share it between the processes of one
        service so that a survivor drains a crashed process's segment.
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the spool directory {self.directory}: {exc}") from exc
        self._lock = threading.Lock()
        self._segment: Segment | None = None
        self._retired: list[Segment] = []  # own segments no longer appended to

    def append(self, payload: bytes) -> tuple[Segment, int]:
        """Append one record and fsync it; returns its segment and offset."""
        record = encode(payload)
        with self._lock:
            segment = self._segment
            try:
                if segment is None:
                    path = self.directory / f"{uuid.uuid4().hex}{SUFFIX}"
                    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_APPEND
                    segment = _lock(path, flags)
                    if segment is None:  # pragma: no cover - a fresh uuid name is not locked
                        raise StoreError(f"cannot lock the new spool segment {path}")
                    _fsync_dir(self.directory)  # the new file's name survives a crash
                    self._segment = segment
                offset = segment.size
                written = os.write(segment.fd, record)
                if written != len(record):
                    raise OSError(f"short write ({written} of {len(record)} bytes)")
                os.fdatasync(segment.fd)
            except OSError as exc:
                # never append after a failed write: the next record starts a new segment
                if self._segment is not None:
                    self._retired.append(self._segment)
                self._segment = None
                raise StoreError(f"cannot write the spool {self.directory}: {exc}") from exc
            segment.size += len(record)
            return segment, offset

    def rotate(self) -> list[Segment]:
        """Stop appending to the current segment; return this process's segments, locked."""
        with self._lock:
            segments, self._retired = self._retired, []
            if self._segment is not None:
                segments.append(self._segment)
                self._segment = None
            return segments

    def claim_orphans(self, exclude: set[Path]) -> list[Segment]:
        """Lock and return the segments no live process holds (``exclude``: ours)."""
        claimed = []
        for path in sorted(self.directory.glob(f"*{SUFFIX}")):
            if path in exclude:
                continue
            segment = _lock(path, os.O_RDWR)
            if segment is not None:
                claimed.append(segment)
        return claimed

    def size_bytes(self) -> int:
        total = 0
        for path in self.directory.glob(f"*{SUFFIX}"):
            try:
                total += path.stat().st_size
            except FileNotFoundError:
                continue
        return total

    def close(self) -> None:
        with self._lock:
            for segment in [*self._retired, self._segment]:
                if segment is not None:
                    segment.close()
            self._segment = None
            self._retired = []
