"""Stage 6, write: atomic output files, the output folder's lock, and its incremental state.

Everything feedclean keeps about an output folder lives in OUT/.feedclean/:

    lock           held (flock) by the run writing to OUT; one run at a time
    state.sqlite3  what each input looked like when last converted, and with which options
    running        present while a run writes; found at start, it means the last run was
                   killed, and its temporary files are swept

The state is a cache, never trusted blindly: a row only lets an input be
skipped when the input's size and mtime (or else its content hash), the
options and the output file's size and mtime all still match. A state file
that is corrupt, of another schema or of another shape is deleted and
rebuilt; losing it costs one full run.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import itertools
import json
import os
import re
import shutil
import sqlite3
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import quote

from .paths import SUFFIXES

STATE_DIR = ".feedclean"
TEMP_SUFFIX = ".feedclean-tmp"
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
_temp_names = itertools.count()
# How a feed's items are named in its folder: the article id, and a content hash when two share it.
_FEED_ITEM_NAME = re.compile(r"[0-9a-f]{16}(?:-[0-9a-f]{8})?(?:" + "|".join(map(re.escape, SUFFIXES.values())) + ")")
# How a report feedclean wrote begins (see batch.Summary.as_dict, and an error report).
_REPORT_STARTS = (b'{\n  "version"', b'{\n  "error"')
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)


class LockBusy(Exception):
    """Another run holds the output folder's lock."""


class StateError(Exception):
    """The state file could not be updated (disk full, locked); the message says so in one line."""


def write_atomic(path: Path | str, data: bytes) -> os.stat_result:
    """Write `data` to `path` through a temporary file and a rename, unless it holds `data`
    already; return the status of the file at `path` (what the state records of an output).

    A run killed at any moment leaves either the old file or the new one,
    never a partial one. Temporary names are short (a long output name must
    still fit) and end in TEMP_SUFFIX, so they never match *.md or *.json.
    Plain os calls: Python's file objects add a few system calls per file.
    """
    path = os.fspath(path)
    existing = _status_if_holding(path, data)
    if existing is not None:
        return existing
    folder = os.path.dirname(path) or "."
    temporary = os.path.join(folder, f".{os.getpid()}.{next(_temp_names)}{TEMP_SUFFIX}")
    try:
        try:
            descriptor = os.open(temporary, _NEW_FILE, 0o666)
        except FileNotFoundError:  # the folder is new: made only then, not checked before every write
            os.makedirs(folder, exist_ok=True)
            descriptor = os.open(temporary, _NEW_FILE, 0o666)
        try:
            written = 0
            while written < len(data):
                written += os.write(descriptor, data[written:])
            status = os.fstat(descriptor)
        finally:
            os.close(descriptor)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return status


def _status_if_holding(path: str, data: bytes) -> os.stat_result | None:
    """The status of the file at `path` if it holds exactly `data`, else None."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode) or status.st_size != len(data) or read_at_most(descriptor, len(data) + 1) != data:
            return None
        return status
    finally:
        os.close(descriptor)


def read_at_most(descriptor: int, limit: int) -> bytes:
    """Up to `limit` bytes from an open file, to its end."""
    chunks = []
    remaining = limit
    while remaining > 0:
        chunk = os.read(descriptor, remaining)
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def output_key(path: str, status: os.stat_result | None = None) -> tuple[int, int] | None:
    """What says whether an output is still as written: size and mtime of a file; for a feed's
    folder of items, their number and a digest of each item's name, size and mtime. None if gone.
    Only item-named files count: the folder may also hold the outputs of an input folder
    of the same name (news.xml beside news/), which are not this feed's."""
    try:
        if not path.endswith(os.sep) and not path.endswith("/"):
            status = status or os.stat(path)
            return status.st_size, status.st_mtime_ns
        with os.scandir(path) as scan:
            items = sorted(
                (entry.name, entry.stat().st_size, entry.stat().st_mtime_ns)
                for entry in scan
                if _FEED_ITEM_NAME.fullmatch(entry.name) and entry.is_file()
            )
    except OSError:
        return None
    digest = hashlib.blake2b(repr(items).encode("utf-8", "surrogateescape"), digest_size=7).digest()
    return len(items), int.from_bytes(digest, "big")


def write_report(path: Path, report: dict) -> str | None:
    """Write a run's report as JSON, atomically, through a symlink to where it points; the
    problem if it cannot be written or must not be, else None."""
    target = os.path.realpath(path)
    problem = report_problem(target)
    if problem is not None:
        return problem
    try:
        write_atomic(target, (json.dumps(report, ensure_ascii=False, indent=2) + "\n").encode("utf-8", "backslashreplace"))
    except OSError as error:
        return f"cannot write it: {error.strerror or error}"
    return None


def report_problem(path: Path | str) -> str | None:
    """Why the file at `path` must not be replaced by a report, or None: a report replaces only
    an earlier report or an empty file, never an input, an article or a device."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as error:
        return f"cannot check it: {error.strerror or error}"
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            return "not a regular file; not replaced"
        start = os.read(descriptor, max(map(len, _REPORT_STARTS)))
    finally:
        os.close(descriptor)
    if start and not start.startswith(_REPORT_STARTS):
        return "holds a file that is not a feedclean report; not replaced (move it, or choose another --report)"
    return None


def sweep_temporary_files(root: Path) -> None:
    """Delete temporary files a killed run left under `root`."""
    for folder, _, files in os.walk(root):
        for name in files:
            if name.endswith(TEMP_SUFFIX):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(folder, name))


@contextlib.contextmanager
def output_lock(output_dir: Path, wait: bool, on_wait: Callable[[str], None] | None = None) -> Iterator[int]:
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


def _holder(handle: IO[str]) -> str:
    handle.seek(0)
    pid = handle.read().strip()
    return f"pid {pid}" if pid.isdigit() else "another process"


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
