"""The run reporter's overflow on disk: samples that do not fit in memory while the server is
unreachable wait in a file of JSON lines, oldest first, bounded in bytes, and are sent before
anything newer once the server answers again."""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from pathlib import Path
from typing import IO, Any, Dict, List, Optional, Tuple

#: Where spool files go by default: a directory of the user's own in the temporary directory.
DEFAULT_DIR = Path(tempfile.gettempdir()) / f"herald-spool-{os.getuid() if hasattr(os, 'getuid') else 'user'}"


class Spool:
    """An append-only file of ``[seq, event]`` lines with a read position. Not thread-safe: the
    run reporter calls it under its own lock."""

    def __init__(self, directory: Path, run_id: str, max_bytes: int) -> None:
        self.directory = directory
        self.path = directory / f"{run_id}-{os.getpid()}-{uuid.uuid4().hex[:8]}.jsonl"
        self.max_bytes = max_bytes
        self._file: Optional[IO[bytes]] = None
        self._read = 0
        self._end = 0
        self._count = 0

    def __len__(self) -> int:
        """Samples waiting in the file."""
        return self._count

    def put(self, seq: int, event: Dict[str, Any]) -> bool:
        """Appends a sample; False when it would pass ``max_bytes`` of waiting samples (or the
        file cannot be written)."""
        line = json.dumps([seq, event], separators=(",", ":")).encode() + b"\n"
        if self._end - self._read + len(line) > self.max_bytes:
            return False
        try:
            if self._file is None:
                self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
                self._file = os.fdopen(fd, "r+b")
            self._file.seek(self._end)
            self._file.write(line)
        except OSError:
            return False
        self._end += len(line)
        self._count += 1
        return True

    def take(self, max_count: int, max_bytes: int) -> List[Tuple[int, Dict[str, Any], int]]:
        """Reads the oldest samples, at most ``max_count`` and ``max_bytes`` of them (at least
        one); they are no longer in the file."""
        if self._file is None or self._count == 0:
            return []
        self._file.flush()
        self._file.seek(self._read)
        batch: List[Tuple[int, Dict[str, Any], int]] = []
        size = 0
        while len(batch) < max_count and self._read < self._end:
            line = self._file.readline()
            seq, event = json.loads(line)
            bytes_ = len(json.dumps(event, separators=(",", ":"))) + 1
            if batch and size + bytes_ > max_bytes:
                break
            batch.append((int(seq), event, bytes_))
            size += bytes_
            self._read += len(line)
            self._count -= 1
        if self._read >= self._end:
            # Drained: give the disk back.
            self._file.seek(0)
            self._file.truncate()
            self._read = self._end = 0
        return batch

    def close(self) -> None:
        """Removes the file (what it still holds is lost: the caller counts it)."""
        if self._file is not None:
            self._file.close()
            self._file = None
            try:
                self.path.unlink()
            except OSError:
                pass
