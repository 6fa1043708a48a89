"""The store's journal: an append-only file beside the DuckDB file, and the durable point.

A group commit is one record appended and fsynced (about 0.15 ms here, against 0.8 ms for a
DuckDB commit); the store feeds DuckDB from the records later, in batches. The file is a header
(magic, then the id of the store it belongs to) and records, each
``<length u32><position u64><crc32 u32><payload>``: positions count records over the store's
life and the CRC covers position and payload, so a record torn by a crash is told from a whole
one and dropped. The file grows by zero-filled chunks written ahead of the records: an fsync
then writes data only, not the file's new size (0.13 against 0.20 ms here). Zeros never read
as a record. Nothing here knows what a payload holds.
"""

from __future__ import annotations

import contextlib
import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

from ..errors import StoreError

MAGIC = b"PWJRNL01"
_HEADER = struct.Struct("<8s16s")  # magic, store id (uuid bytes)
_RECORD = struct.Struct("<IQI")  # payload length, position, crc32(position + payload)
_POSITION = struct.Struct("<Q")
CHUNK = 1 << 20  # how far ahead of its records the file is zero-filled


class Journal:
    """One store's journal file, open for appending."""

    def __init__(self, path: Path, fd: int, records: list[tuple[int, bytes]], end: int) -> None:
        self.path = path
        self._fd = fd
        self.recovered = records  # the whole records found on opening, in file order
        self.size = end  # where the records end (the file goes on with zeros)
        self._allocated = os.fstat(fd).st_size

    @classmethod
    def open(cls, path: str | os.PathLike[str], store_id: bytes) -> Journal:
        """Open (or create) the journal of the store whose id is ``store_id``.

        Whole records are kept in :attr:`recovered`; a torn tail is cut off. A journal that
        belongs to another store is refused, and left as it is.
        """
        path = Path(path)
        if not path.exists():
            _create(path, store_id)
        fd = os.open(path, os.O_RDWR)
        try:
            data = _read_all(fd)
            found = _store_id(data, path)
            if found != store_id:
                raise StoreError(
                    f"the journal {path} belongs to another store (its id is {found.hex()}, "
                    f"this store's is {store_id.hex()}): it was copied from elsewhere or left "
                    "by another store of the same name. Nothing of it was applied and it was "
                    "left untouched; move it away to open this store.")
            records, end = _records(data)
            if any(data[end:]):  # a record torn by a crash: nobody was told it is durable
                os.ftruncate(fd, end)
                os.fsync(fd)
        except BaseException:
            os.close(fd)
            raise
        return cls(path, fd, records, end)

    def append(self, position: int, payload: bytes) -> None:
        """Append one record and make it durable before returning."""
        head = _RECORD.pack(len(payload), position,
                            zlib.crc32(payload, zlib.crc32(_POSITION.pack(position))))
        record = head + payload
        end = self.size + len(record)
        if end > self._allocated:
            self._allocate(end)
        written = os.pwrite(self._fd, record, self.size)
        while written < len(record):  # a short write (a full disk says so by raising)
            written += os.pwrite(self._fd, record[written:], self.size + written)
        os.fdatasync(self._fd)
        self.size = end

    def _allocate(self, end: int) -> None:
        """Zero-fill the file ahead, to at least ``end`` plus a chunk."""
        target = end + CHUNK
        zeros = bytes(target - self._allocated)
        written = 0
        while written < len(zeros):
            written += os.pwrite(self._fd, zeros[written:], self._allocated + written)
        os.fsync(self._fd)
        self._allocated = target

    def reset(self) -> None:
        """Drop every record: call only once they are all durable elsewhere."""
        os.ftruncate(self._fd, _HEADER.size)
        os.fsync(self._fd)
        self.size = self._allocated = _HEADER.size
        self.recovered = []

    def close(self, *, remove: bool) -> None:
        """Close the file; with ``remove``, delete it (everything in it is durable elsewhere)."""
        os.close(self._fd)
        if remove:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            _sync_dir(self.path.parent)


def journal_path(store_path: str) -> Path:
    return Path(f"{store_path}.journal")


def peek(path: Path) -> tuple[bytes, list[tuple[int, bytes]]] | None:
    """The store id and whole records of the journal at ``path`` (``None`` if there is
    none), read without changing it: for a store opened read-only."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    return _store_id(data, path), _records(data)[0]


def _create(path: Path, store_id: bytes) -> None:
    """Write a journal holding only its header, atomically: a crash leaves it whole or absent."""
    temp = path.with_name(path.name + ".new")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, _HEADER.pack(MAGIC, store_id))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temp, path)
    _sync_dir(path.parent)


def _sync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def _store_id(data: bytes, path: Path) -> bytes:
    if len(data) < _HEADER.size or data[:len(MAGIC)] != MAGIC:
        raise StoreError(
            f"{path} is not a pyworkflow_nb journal (its header is missing or damaged). It was "
            "left untouched and nothing of it was applied; move it away to open the store.")
    return _HEADER.unpack_from(data)[1]  # type: ignore[no-any-return]


def _records(data: bytes) -> tuple[list[tuple[int, bytes]], int]:
    """The whole records of ``data`` as (position, payload), and where they end."""
    records = []
    end = _HEADER.size
    for position, payload, after in _scan(data, end):
        records.append((position, payload))
        end = after
    return records, end


def _scan(data: bytes, offset: int) -> Iterator[tuple[int, bytes, int]]:
    while offset + _RECORD.size <= len(data):
        length, position, crc = _RECORD.unpack_from(data, offset)
        start = offset + _RECORD.size
        payload = data[start:start + length]
        if len(payload) < length or zlib.crc32(
                payload, zlib.crc32(_POSITION.pack(position))) != crc:
            return  # torn: the crash came while this record was being written
        yield position, payload, start + length
        offset = start + length
