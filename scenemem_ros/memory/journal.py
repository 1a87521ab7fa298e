"""Append-only override journal that survives crashes.

Each line is ``<crc32 as 8 hex digits> <json>\\n``, written with one ``write`` on an O_APPEND
descriptor and made durable with ``fsync`` before the call returns: a returned call is committed.
Loading replays puts, deletes and clears in order. A torn last line (a crash mid-write: no newline
or a bad checksum) is dropped and cut off before the next append; a bad line in the middle is
skipped and counted. ``compact`` writes the live overrides to a temporary file, syncs it and
renames it over the journal, so a crash during compaction leaves the old or the new journal.
"""

from __future__ import annotations

import json
import os
import threading
import zlib
from pathlib import Path
from typing import Any

from scenemem_ros.memory.errors import JournalError, MemoryModelError
from scenemem_ros.memory.overrides import Override


def _encode(record: dict[str, Any]) -> bytes:
    body = json.dumps(record, separators=(',', ':'), sort_keys=True).encode()
    return b'%08x %s\n' % (zlib.crc32(body), body)


def _decode(line: bytes) -> dict[str, Any] | None:
    if len(line) < 10 or line[8:9] != b' ':
        return None
    body = line[9:]
    try:
        if int(line[:8], 16) != zlib.crc32(body):
            return None
        record = json.loads(body)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


class OverrideJournal:
    """The durable set of committed overrides, keyed by id. Thread-safe."""

    def __init__(self, path: str | Path, compact_after: int = 1000) -> None:
        self.path = Path(path)
        self.compact_after = compact_after
        self.skipped_lines = 0
        self._lock = threading.Lock()
        self._overrides: dict[str, Override] = {}
        self._lines = 0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            good_length = self._replay()
            self._descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
            if os.fstat(self._descriptor).st_size > good_length:
                os.ftruncate(self._descriptor, good_length)
                os.fsync(self._descriptor)
        except OSError as error:
            raise JournalError(f'cannot open override journal {self.path}: {error}') from error

    def _replay(self) -> int:
        """Load the file; returns the byte length of its intact prefix."""
        if not self.path.exists():
            return 0
        data = self.path.read_bytes()
        offset = 0
        while offset < len(data):
            end = data.find(b'\n', offset)
            if end < 0:
                break  # torn tail: never committed
            record = _decode(data[offset:end])
            if record is None:
                if data.find(b'\n', end + 1) < 0 and end + 1 >= len(data):
                    break  # the last line is damaged: a torn write
                self.skipped_lines += 1
            else:
                try:
                    self._apply(record)
                except MemoryModelError:
                    self.skipped_lines += 1
            self._lines += 1
            offset = end + 1
        return offset

    def _apply(self, record: dict[str, Any]) -> None:
        operation = record.get('op')
        if operation == 'put':
            override = Override.from_dict(record['override'])
            self._overrides[override.id] = override
        elif operation == 'delete':
            self._overrides.pop(str(record.get('id')), None)
        elif operation == 'clear':
            self._overrides.clear()
        else:
            raise MemoryModelError(f'unknown journal operation {operation!r}')

    def _append(self, record: dict[str, Any]) -> None:
        line = _encode(record)
        try:
            written = os.write(self._descriptor, line)
            if written != len(line):
                raise OSError(f'short write ({written} of {len(line)} bytes)')
            os.fsync(self._descriptor)
        except OSError as error:
            raise JournalError(f'cannot append to override journal {self.path}: {error}') \
                from error
        self._lines += 1

    def put(self, override: Override) -> None:
        """Add or replace an override; durable when this returns."""
        with self._lock:
            self._append({'op': 'put', 'override': override.to_dict()})
            self._overrides[override.id] = override
            self._maybe_compact()

    def delete(self, override_id: str) -> bool:
        """Remove an override; returns whether it existed."""
        with self._lock:
            if override_id not in self._overrides:
                return False
            self._append({'op': 'delete', 'id': override_id})
            del self._overrides[override_id]
            self._maybe_compact()
            return True

    def clear(self) -> int:
        """Remove every override; returns how many there were."""
        with self._lock:
            count = len(self._overrides)
            self._append({'op': 'clear'})
            self._overrides.clear()
            return count

    def overrides(self) -> dict[str, Override]:
        with self._lock:
            return dict(self._overrides)

    def _maybe_compact(self) -> None:
        if self.compact_after and self._lines > self.compact_after + 2 * len(self._overrides):
            self._compact_locked()

    def compact(self) -> None:
        """Rewrite the journal as one put per live override (atomic)."""
        with self._lock:
            self._compact_locked()

    def _compact_locked(self) -> None:
        temporary = self.path.with_name(f'.{self.path.name}.compact')
        payload = b''.join(_encode({'op': 'put', 'override': o.to_dict()})
                           for o in self._overrides.values())
        try:
            with open(temporary, 'wb') as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
            directory = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
            os.close(self._descriptor)
            self._descriptor = os.open(self.path, os.O_RDWR | os.O_APPEND)
        except OSError as error:
            raise JournalError(f'cannot compact override journal {self.path}: {error}') from error
        self._lines = len(self._overrides)

    def close(self) -> None:
        with self._lock:
            if self._descriptor >= 0:
                os.close(self._descriptor)
                self._descriptor = -1

    def __enter__(self) -> OverrideJournal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
