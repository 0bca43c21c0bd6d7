"""The incremental state of one output folder: what each input looked like when last converted.

It lives in OUT/.feedclean/state.sqlite3 and is a cache, never trusted
blindly: a row only lets an input be skipped when the input's size and mtime
(or else its content hash), the options and the output file's size and mtime
all still match. A state file that is corrupt, of another schema or of
another shape is deleted and rebuilt; losing it costs one full run.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from .write import STATE_DIR

_SCHEMA_VERSION = 5
_COLUMNS = (
    ("input", str), ("format", str), ("size", int), ("mtime_ns", int), ("digest", str), ("options", str),
    ("output", str), ("output_size", int), ("output_mtime_ns", int), ("url", (str, type(None))),
    ("fetched", (float, int, type(None))), ("merged", int),
)  # fmt: skip
_KINDS = tuple(kind for _, kind in _COLUMNS)
# How long a state update waits for another program holding the file (a backup, sqlite3 in a shell).
_BUSY_SECONDS = 30
# SQLite's page cache: look-ups are by key, so a small one costs little and keeps memory flat.
_CACHE_KIB = 256


class StateError(Exception):
    """The state file could not be updated (disk full, locked); the message says so in one line."""


@dataclass(frozen=True, slots=True)
class Record:
    """What an input and its output looked like when the input was last converted.

    `input` is the input's real path. `output` is the output file, or for a
    feed file the folder of its items (ending in "/"), relative to OUT.
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
    """The SQLite table of Records for one output folder.

    Paths are stored as the bytes the file system uses (a file name need not
    be UTF-8). Reading never fails a run: a row of the wrong shape is no
    record. Writing fails with StateError, which the run reports once.
    """

    def __init__(self, output_dir: Path, read_only: bool = False) -> None:
        self.path = output_dir / STATE_DIR / "state.sqlite3"
        self.problem: str | None = None
        self._read_only = read_only
        self._connection = self._open()
        self.empty = not self._records("SELECT * FROM files LIMIT 1", ())

    def _open(self) -> sqlite3.Connection | None:
        """The state, rebuilt if it is damaged; StateError if it cannot be used at all (locked
        by another program, a full or read-only disk), rather than deleting a sound file."""
        if self._read_only:
            return self._open_read_only()
        if self.path.is_dir():
            self._delete()
        try:
            return self._connect()
        except sqlite3.OperationalError as error:
            raise StateError(f"cannot open the state in {self.path}: {error}") from None
        except sqlite3.Error:
            self._delete()
        try:
            return self._connect()
        except sqlite3.Error as error:
            raise StateError(f"cannot open the state in {self.path}: {error}") from None

    def _open_read_only(self) -> sqlite3.Connection | None:
        if not self.path.is_file():
            return None
        for mode in ("ro", "ro&immutable=1"):
            try:
                connection = sqlite3.connect(f"file:{quote(os.fsencode(self.path))}?mode={mode}", uri=True, timeout=_BUSY_SECONDS)
                if self._is_sound(connection):
                    return connection
                connection.close()
                break
            except sqlite3.Error:
                continue
        self.problem = f"cannot read the state in {self.path}; every input is listed as new"
        return None

    def _delete(self) -> None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            target = f"{self.path}{suffix}"
            with contextlib.suppress(OSError):
                if os.path.isdir(target) and not os.path.islink(target):
                    shutil.rmtree(target)
                else:
                    os.unlink(target)

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, isolation_level=None, timeout=_BUSY_SECONDS)
        try:
            if not self._is_sound(connection):
                connection.executescript(
                    f"""
                    DROP TABLE IF EXISTS files;
                    CREATE TABLE files (
                        input BLOB, format TEXT, size INTEGER, mtime_ns INTEGER, digest TEXT, options TEXT,
                        output BLOB, output_size INTEGER, output_mtime_ns INTEGER, url TEXT, fetched REAL,
                        merged INTEGER DEFAULT 0, PRIMARY KEY (input, format));
                    CREATE INDEX files_output ON files(output);
                    CREATE INDEX files_url ON files(url);
                    PRAGMA user_version = {_SCHEMA_VERSION};
                    """
                )
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = NORMAL")
            connection.execute(f"PRAGMA cache_size = -{_CACHE_KIB}")
            connection.execute("BEGIN")
        except sqlite3.Error:
            connection.close()
            raise
        return connection

    @staticmethod
    def _is_sound(connection: sqlite3.Connection) -> bool:
        """Whether the file is a state of this schema: version, integrity, and the table's columns."""
        if connection.execute("PRAGMA user_version").fetchone()[0] != _SCHEMA_VERSION:
            return False
        if connection.execute("PRAGMA quick_check").fetchone()[0] != "ok":
            return False
        columns = [row[1] for row in connection.execute("PRAGMA table_info(files)")]
        return columns == [name for name, _ in _COLUMNS]

    def lookup(self, input_key: str, output_format: str) -> Record | None:
        """The record of `input_key` converted to `output_format` (one input may have .md and .json)."""
        return next(
            iter(self._records("SELECT * FROM files WHERE input = ? AND format = ?", (_path(input_key), output_format))), None
        )

    def owner_of(self, output: str, input_key: str) -> str | None:
        """Another input whose output is `output`, if that input still exists."""
        rows = self._records("SELECT * FROM files WHERE output = ? AND input != ?", (_path(output), _path(input_key)))
        return next((record.input for record in rows if os.path.exists(record.input)), None)

    def duplicate_urls(self, output_format: str) -> list[str]:
        """Canonical URLs that more than one `output_format` output was made from."""
        query = "SELECT url FROM files WHERE url IS NOT NULL AND format = ? GROUP BY url HAVING COUNT(*) > 1 ORDER BY url"
        try:
            return [url for (url,) in self._connection.execute(query, (output_format,))] if self._connection else []
        except sqlite3.Error:
            return []

    def with_url(self, url: str, output_format: str) -> list[Record]:
        return self._records("SELECT * FROM files WHERE url = ? AND format = ? ORDER BY input", (url, output_format))

    def _records(self, query: str, parameters: tuple) -> list[Record]:
        if self._connection is None:
            return []
        try:
            rows = self._connection.execute(query, parameters).fetchall()
        except sqlite3.Error:
            return []
        return [record for record in map(_record, rows) if record is not None]

    def save(self, record: Record) -> None:
        self._write(
            "INSERT OR REPLACE INTO files VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                _path(record.input), record.format, record.size, record.mtime_ns, record.digest, record.options,
                _path(record.output), record.output_size, record.output_mtime_ns, record.url, record.fetched,
                int(record.merged),
            ),
        )  # fmt: skip

    def forget(self, record: Record) -> None:
        self._write("DELETE FROM files WHERE input = ? AND format = ?", (_path(record.input), record.format))

    def checkpoint(self) -> None:
        """Commit what is recorded so far; a killed run then loses at most the last stretch."""
        if self._connection is not None and not self._read_only:
            self._write("COMMIT")
            self._write("BEGIN")

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            if not self._read_only:
                connection.execute("COMMIT")
        except sqlite3.Error as error:
            raise StateError(self._failure(error)) from None
        finally:
            connection.close()

    def _write(self, statement: str, parameters: tuple = ()) -> None:
        if self._connection is None or self._read_only:
            return
        try:
            self._connection.execute(statement, parameters)
        except sqlite3.Error as error:
            raise StateError(self._failure(error)) from None

    def _failure(self, error: sqlite3.Error) -> str:
        return f"cannot update the state in {self.path}: {error}; the next run converts these inputs again"


def _path(text: str) -> bytes:
    return os.fsencode(text)


def _record(row: tuple) -> Record | None:
    """A row as a Record, or None if it is not of the expected shape (a hand-edited or damaged file)."""
    if len(row) != len(_COLUMNS):
        return None
    values = list(row)
    for index in (0, 6):
        if isinstance(values[index], bytes):
            values[index] = os.fsdecode(values[index])
    if not all(map(isinstance, values, _KINDS)):
        return None
    return Record(*values[:-1], bool(values[-1]))
