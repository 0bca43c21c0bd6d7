"""Stage 6, write: atomic output files, the output folder's lock, and its incremental state.

Everything feedclean keeps about an output folder lives in OUT/.feedclean/:

    lock           held (flock) by the run writing to OUT; one run at a time
    state.sqlite3  what each input looked like when last converted, and with which options
    running        present while a run writes; found at start, it means the last run was
                   killed, and its temporary files are swept

The state is a cache, never trusted blindly: a row only lets an input be
skipped when the input's size and mtime (or else its content hash), the
options and the output file's size and mtime all still match. A state file
that is corrupt or of another schema is deleted and rebuilt; losing it costs
one full run.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import astuple, dataclass
from pathlib import Path

STATE_DIR = ".feedclean"
TEMP_SUFFIX = ".feedclean-tmp"
_SCHEMA_VERSION = 4
_temp_names = itertools.count()


class LockBusy(Exception):
    """Another run holds the output folder's lock."""


def write_atomic(path: Path, data: bytes) -> bool:
    """Write `data` to `path` through a temporary file and a rename; False if already identical.

    A run killed at any moment leaves either the old file or the new one,
    never a partial one. Temporary names end in TEMP_SUFFIX, so they never
    match *.md or *.json.
    """
    try:
        if path.stat().st_size == len(data) and path.read_bytes() == data:
            return False
    except (FileNotFoundError, NotADirectoryError):
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name[:80]}.{os.getpid()}.{next(_temp_names)}{TEMP_SUFFIX}")
    try:
        with open(temporary, "xb") as handle:
            handle.write(data)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
    return True


def sweep_temporary_files(root: Path) -> int:
    """Delete temporary files a killed run left under `root`; return how many."""
    swept = 0
    for folder, _, files in os.walk(root):
        for name in files:
            if name.endswith(TEMP_SUFFIX):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(folder, name))
                    swept += 1
    return swept


@contextlib.contextmanager
def output_lock(output_dir: Path, wait: bool, on_wait=None) -> Iterator[int]:
    """Hold OUT/.feedclean/lock for the duration, yielding its descriptor (which forked
    workers must close); raise LockBusy if taken and not waiting."""
    state_dir = output_dir / STATE_DIR
    state_dir.mkdir(parents=True, exist_ok=True)
    with open(state_dir / "lock", "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                raise LockBusy(_holder(handle)) from None
            if on_wait is not None:
                on_wait(_holder(handle))
            fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        marker = state_dir / "running"
        if marker.exists():
            sweep_temporary_files(output_dir)
        marker.touch()
        try:
            yield handle.fileno()
        finally:
            with contextlib.suppress(OSError):
                marker.unlink()
            fcntl.flock(handle, fcntl.LOCK_UN)


def _holder(handle) -> str:
    handle.seek(0)
    pid = handle.read().strip()
    return f"pid {pid}" if pid.isdigit() else "another process"


@dataclass(frozen=True, slots=True)
class Record:
    """What an input and its output looked like when the input was last converted.

    `output` is the output file, or for a feed file the folder of its items
    (ending in "/"); `output_size` is then the number of items.
    """

    input: str
    format: str
    size: int
    mtime_ns: int
    digest: str
    options: str
    output: str
    output_size: int
    output_mtime_ns: int
    url: str | None
    fetched: float | None
    merged: bool


class State:
    """The SQLite table of Records for one output folder."""

    def __init__(self, output_dir: Path, read_only: bool = False) -> None:
        self.path = output_dir / STATE_DIR / "state.sqlite3"
        self._read_only = read_only
        self._connection = self._open()

    def _open(self) -> sqlite3.Connection | None:
        if self._read_only and not self.path.exists():
            return None
        try:
            return self._connect()
        except sqlite3.DatabaseError:
            if self._read_only:
                return None
            for suffix in ("", "-wal", "-shm", "-journal"):
                with contextlib.suppress(OSError):
                    os.unlink(f"{self.path}{suffix}")
            return self._connect()

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, isolation_level=None)
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        if connection.execute("PRAGMA quick_check").fetchone()[0] != "ok":
            connection.close()
            raise sqlite3.DatabaseError("state file failed its integrity check")
        if version != _SCHEMA_VERSION and not self._read_only:
            connection.executescript(
                f"""
                DROP TABLE IF EXISTS files;
                CREATE TABLE files (
                    input TEXT, format TEXT, size INTEGER, mtime_ns INTEGER, digest TEXT, options TEXT,
                    output TEXT, output_size INTEGER, output_mtime_ns INTEGER, url TEXT, fetched REAL,
                    merged INTEGER DEFAULT 0, PRIMARY KEY (input, format));
                CREATE INDEX files_output ON files(output);
                CREATE INDEX files_url ON files(url);
                PRAGMA user_version = {_SCHEMA_VERSION};
                """
            )
        if not self._read_only:
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = NORMAL")
            connection.execute("BEGIN")
        return connection

    def lookup(self, input_key: str, output_format: str) -> Record | None:
        """The record of `input_key` converted to `output_format` (one input may have .md and .json)."""
        if self._connection is None:
            return None
        try:
            row = self._connection.execute(
                "SELECT * FROM files WHERE input = ? AND format = ?", (input_key, output_format)
            ).fetchone()
        except sqlite3.DatabaseError:
            return None
        return Record(*row[:-1], bool(row[-1])) if row else None

    def owner_of(self, output: str, input_key: str) -> str | None:
        """Another input whose output is `output`, if that input still exists."""
        if self._connection is None:
            return None
        rows = self._connection.execute("SELECT input FROM files WHERE output = ? AND input != ?", (output, input_key))
        return next((other for (other,) in rows if os.path.exists(other)), None)

    def save(self, record: Record) -> None:
        self._connection.execute(
            "INSERT OR REPLACE INTO files VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (*astuple(record)[:-1], int(record.merged)),
        )

    def forget(self, record: Record) -> None:
        self._connection.execute("DELETE FROM files WHERE input = ? AND format = ?", (record.input, record.format))

    def duplicate_urls(self, output_format: str) -> list[str]:
        """Canonical URLs that more than one `output_format` output was made from."""
        rows = self._connection.execute(
            "SELECT url FROM files WHERE url IS NOT NULL AND format = ? GROUP BY url HAVING COUNT(*) > 1 ORDER BY url",
            (output_format,),
        )
        return [url for (url,) in rows]

    def with_url(self, url: str, output_format: str) -> list[Record]:
        rows = self._connection.execute("SELECT * FROM files WHERE url = ? AND format = ? ORDER BY input", (url, output_format))
        return [Record(*row[:-1], bool(row[-1])) for row in rows]

    def checkpoint(self) -> None:
        """Commit what is recorded so far; a killed run then loses at most the last stretch."""
        if self._connection is not None and not self._read_only:
            self._connection.execute("COMMIT")
            self._connection.execute("BEGIN")

    def close(self) -> None:
        if self._connection is not None:
            if not self._read_only:
                self._connection.execute("COMMIT")
            self._connection.close()
            self._connection = None
