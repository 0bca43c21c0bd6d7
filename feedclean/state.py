"""The incremental state of one output folder: what each input looked like when last converted,
and every file feedclean wrote there.

It lives in OUT/.feedclean/state.sqlite3 and is a cache, never trusted
blindly: a row only lets an input be skipped when the input's size and mtime
(or else its content hash), the options and the output file's size and mtime
all still match, and no path read from it is written or removed unless it
lies inside OUT (paths.inside_output). A state file that is corrupt, of
another schema or of another shape is deleted and rebuilt; losing it costs
one full run. The file is opened only through its checked folder
(statefolder.py): SQLite follows a symlink it is given, and once dropped and
rebuilt the tables of another database a symlink led it to.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from typing import NamedTuple
from urllib.parse import quote

from .paths import inside_output, is_item_name
from .statefolder import StateFolder, UnsafeStateFile
from .write import output_key, path_bytes

_FILE = "state.sqlite3"
# What SQLite keeps beside it, by name: each is checked before SQLite may open it.
_SIDE_FILES = ("-wal", "-shm", "-journal")
_SCHEMA_VERSION = 6
# The schema before the `outputs` table: upgraded in place, so its outputs stay feedclean's.
_SCHEMA_WITHOUT_OUTPUTS = 5
_COLUMNS = (
    ("input", str), ("format", str), ("size", int), ("mtime_ns", int), ("digest", str), ("options", str),
    ("output", str), ("output_size", int), ("output_mtime_ns", int), ("url", (str, type(None))),
    ("fetched", (float, int, type(None))), ("merged", int),
)  # fmt: skip
_KINDS = tuple(kind for _, kind in _COLUMNS)
_OUTPUT_COLUMNS = ("path", "digest", "size", "mtime_ns")
_CREATE_OUTPUTS = "CREATE TABLE outputs (path BLOB PRIMARY KEY, digest TEXT, size INTEGER, mtime_ns INTEGER) WITHOUT ROWID"
_SAVE = "INSERT OR REPLACE INTO files VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
_OWN = "INSERT OR REPLACE INTO outputs VALUES (?,?,?,?)"
# How long a state update waits for another program holding the file (a backup, sqlite3 in a shell).
_BUSY_SECONDS = 30
# SQLite's page cache: look-ups are by key, so a small one costs little and keeps memory flat.
_CACHE_KIB = 256


class StateError(Exception):
    """The state file could not be updated (disk full, locked); the message says so in one line."""


class Record(NamedTuple):
    """What an input and its output looked like when the input was last converted.

    `input` is the input's real path. `output` is the output file, or for a
    feed file the folder of its items (ending in "/"), relative to OUT.

    Records and Written (below) are named tuples: one of each is made for every input a run
    converts, in its worker and again in the run, and a frozen dataclass took ten times as long
    to make and to pickle.
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


class Written(NamedTuple):
    """A file feedclean wrote in OUT: the one record of which files are its own (ownership.py).

    `path` is relative to OUT; `digest`, `size` and `mtime_ns` are the file's as written. The
    digest is None for a file adopted from a state of schema 5, which knew size and mtime only.
    """

    path: str
    digest: str | None
    size: int
    mtime_ns: int


class State:
    """The SQLite tables of Records (one per input and format) and of Written files, for one output folder.

    Paths are stored as the bytes the file system uses (a file name need not
    be UTF-8). Reading never fails a run: a row of the wrong shape is no
    record. Writing fails with StateError, which the run reports once.

    A run that writes holds SQLite's write lock from the start (BEGIN
    IMMEDIATE, after each checkpoint too): a transaction that has read first
    and only then wants to write is refused at once when another program
    holds the lock, without the 30 s wait every other statement gets.
    """

    def __init__(self, folder: StateFolder | None, read_only: bool = False) -> None:
        self._folder = folder
        self.path = folder.path_of(_FILE) if folder is not None else _FILE
        self.problem: str | None = None
        self._read_only = read_only
        self._connection = self._open()
        self.empty = not self._records("SELECT * FROM files LIMIT 1", ())
        # Nothing recorded at all, not even a file written: the first run into a folder.
        self.blank = self.empty and not self._rows("SELECT path FROM outputs LIMIT 1", ())

    def _open(self) -> sqlite3.Connection | None:
        """The state, rebuilt if it is damaged; StateError if it cannot be used at all (locked
        by another program, a full or read-only disk), rather than deleting a sound file."""
        if self._folder is None:
            return None
        if self._read_only:
            return self._open_read_only()
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
        if self._check_files() is None:
            return None
        uri = f"file:{quote(os.fsencode(self._folder.real_path_of(_FILE)))}"
        for mode in ("ro", "ro&immutable=1"):
            try:
                connection = sqlite3.connect(f"{uri}?mode={mode}", uri=True, timeout=_BUSY_SECONDS)
                self._verify(connection)
                if self._is_sound(connection) or self._is_sound(connection, _SCHEMA_WITHOUT_OUTPUTS):
                    return connection
                connection.close()
                break
            except sqlite3.Error:
                continue
        self.problem = f"cannot read the state in {self.path}; every input is listed as new"
        return None

    def _check_files(self) -> os.stat_result | None:
        """Check the state file and its side files before SQLite opens them by name."""
        for suffix in _SIDE_FILES:
            self._folder.check(_FILE + suffix, writing=not self._read_only)
        return self._folder.check(_FILE, writing=not self._read_only)

    def _verify(self, connection: sqlite3.Connection) -> None:
        """After SQLite opened the file: the one in the checked folder, not one a link swapped
        in meanwhile (SQLite resolves links in the name it is given, and reports what it opened)."""
        opened = next((row[2] for row in connection.execute("PRAGMA database_list") if row[1] == "main"), None)
        if opened != self._folder.real_path_of(_FILE):
            connection.close()
            raise UnsafeStateFile(self.path, "a state file that is a symlink, or was replaced while feedclean opened it")

    def _delete(self) -> None:
        for suffix in ("", *_SIDE_FILES):
            self._folder.unlink(_FILE + suffix)

    def _connect(self) -> sqlite3.Connection:
        self._check_files()
        connection = sqlite3.connect(self._folder.real_path_of(_FILE), isolation_level=None, timeout=_BUSY_SECONDS)
        try:
            self._verify(connection)
            if self._is_sound(connection, _SCHEMA_WITHOUT_OUTPUTS):
                self._add_outputs_table(connection)
            elif not self._is_sound(connection):
                # One transaction: each statement on its own was a commit, a sync to disk each.
                connection.executescript(
                    f"""
                    BEGIN;
                    DROP TABLE IF EXISTS files;
                    DROP TABLE IF EXISTS outputs;
                    CREATE TABLE files (
                        input BLOB, format TEXT, size INTEGER, mtime_ns INTEGER, digest TEXT, options TEXT,
                        output BLOB, output_size INTEGER, output_mtime_ns INTEGER, url TEXT, fetched REAL,
                        merged INTEGER DEFAULT 0, PRIMARY KEY (input, format));
                    CREATE INDEX files_output ON files(output);
                    CREATE INDEX files_url ON files(url);
                    {_CREATE_OUTPUTS};
                    PRAGMA user_version = {_SCHEMA_VERSION};
                    COMMIT;
                    """
                )
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = NORMAL")
            connection.execute(f"PRAGMA cache_size = -{_CACHE_KIB}")
            connection.execute("BEGIN IMMEDIATE")
        except (sqlite3.Error, OSError):
            connection.close()
            raise
        return connection

    def _add_outputs_table(self, connection: sqlite3.Connection) -> None:
        """Upgrade a state of schema 5: the outputs its records vouch for (size and mtime as
        recorded) are feedclean's, so an upgrade does not turn an archive into foreign files."""
        connection.execute("BEGIN IMMEDIATE")
        connection.execute(_CREATE_OUTPUTS)
        output_dir = os.fspath(self._folder.output_dir)
        for record in map(_record, connection.execute("SELECT * FROM files WHERE merged = 0").fetchall()):
            for written in _still_as_recorded(output_dir, record) if record is not None else ():
                connection.execute(_OWN, _written_row(written))
        connection.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
        connection.execute("COMMIT")

    @staticmethod
    def _is_sound(connection: sqlite3.Connection, version: int = _SCHEMA_VERSION) -> bool:
        """Whether the file is a state of that schema: version, integrity, and the tables' columns."""
        if connection.execute("PRAGMA user_version").fetchone()[0] != version:
            return False
        if connection.execute("PRAGMA quick_check").fetchone()[0] != "ok":
            return False
        columns = [row[1] for row in connection.execute("PRAGMA table_info(files)")]
        outputs = tuple(row[1] for row in connection.execute("PRAGMA table_info(outputs)"))
        return columns == [name for name, _ in _COLUMNS] and outputs == (_OUTPUT_COLUMNS if version == _SCHEMA_VERSION else ())

    def lookup(self, input_key: str, output_format: str) -> Record | None:
        """The record of `input_key` converted to `output_format` (one input may have .md and .json)."""
        rows = self._records("SELECT * FROM files WHERE input = ? AND format = ?", (_blob(input_key), output_format))
        return next(iter(rows), None)

    def owner_of(self, output: str, input_key: str) -> str | None:
        """Another input whose output is `output`, if that input still exists."""
        rows = self._records("SELECT * FROM files WHERE output = ? AND input != ?", (_blob(output), _blob(input_key)))
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

    def written(self, path: str) -> Written | None:
        """What feedclean wrote at `path` (relative to OUT), if the state says it wrote it."""
        return next(iter(self._written("SELECT * FROM outputs WHERE path = ?", (_blob(path),))), None)

    def written_in(self, folder: str) -> dict[str, Written]:
        """What feedclean wrote in `folder` (relative to OUT, ending in "/") under an item's name: a feed's items."""
        prefix = path_bytes(folder)
        rows = self._written("SELECT * FROM outputs WHERE path > ? AND path < ?", (prefix, prefix + b"\xff"))
        return {written.path: written for written in rows if is_item_name(written.path[len(folder) :])}

    def _records(self, query: str, parameters: tuple) -> list[Record]:
        return [record for record in map(_record, self._rows(query, parameters)) if record is not None]

    def _written(self, query: str, parameters: tuple) -> list[Written]:
        return [written for written in map(_written, self._rows(query, parameters)) if written is not None]

    def _rows(self, query: str, parameters: tuple) -> list[tuple]:
        if self._connection is None:
            return []
        try:
            return self._connection.execute(query, parameters).fetchall()
        except sqlite3.Error:
            return []

    def save(self, record: Record) -> None:
        self._write(_SAVE, _record_row(record))

    def keep(self, records: list[Record], written: list[Written]) -> None:
        """Save records and own the files written, many at once: what a run does with the outcomes
        of its conversions (one statement for many rows costs less than one for each)."""
        self._write_many(_OWN, [_written_row(one) for one in written])
        self._write_many(_SAVE, [_record_row(record) for record in records])

    def forget(self, record: Record) -> None:
        self._write("DELETE FROM files WHERE input = ? AND format = ?", (_blob(record.input), record.format))

    def own(self, written: Written) -> None:
        """Record a file feedclean wrote: from now on it may replace or remove it, as long as it holds this."""
        self._write(_OWN, _written_row(written))

    def disown(self, path: str) -> None:
        """Forget a file feedclean removed: whatever appears there later is not its own."""
        self._write("DELETE FROM outputs WHERE path = ?", (_blob(path),))

    def checkpoint(self) -> None:
        """Commit what is recorded so far; a killed run then loses at most the last stretch."""
        if self._connection is not None and not self._read_only:
            self._write("COMMIT")
            self._write("BEGIN IMMEDIATE")

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

    def _write_many(self, statement: str, rows: list[tuple]) -> None:
        if self._connection is None or self._read_only or not rows:
            return
        try:
            self._connection.executemany(statement, rows)
        except sqlite3.Error as error:
            raise StateError(self._failure(error)) from None

    def _failure(self, error: sqlite3.Error) -> str:
        return f"cannot update the state in {self.path}: {error}; the next run converts these inputs again"


def _still_as_recorded(output_dir: str, record: Record) -> list[Written]:
    """The files a schema-5 record vouches for: its output file, or its feed's items, if they
    are as recorded then (size and mtime; a feed's folder by its key) and inside OUT."""
    path = inside_output(output_dir, record.output)
    if path is None:
        return []
    if record.output.endswith("/"):
        if output_key(path + "/") != (record.output_size, record.output_mtime_ns):
            return []
        found = (_as_found(output_dir, f"{record.output}{name}") for name in sorted(os.listdir(path)) if is_item_name(name))
        return [written for written in found if written is not None]
    found = _as_found(output_dir, record.output)
    return [found] if found is not None and (found.size, found.mtime_ns) == (record.output_size, record.output_mtime_ns) else []


def _as_found(output_dir: str, relative: str) -> Written | None:
    try:
        status = os.lstat(os.path.join(output_dir, relative))
    except OSError:
        return None
    return Written(relative, None, status.st_size, status.st_mtime_ns) if stat.S_ISREG(status.st_mode) else None


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


def _record_row(record: Record) -> tuple:
    """A record as the row the state keeps: its paths as bytes."""
    key, output_format, size, mtime_ns, content, options, output, output_size, output_mtime_ns, url, fetched, merged = record
    return (
        _blob(key), output_format, size, mtime_ns, content, options, _blob(output), output_size, output_mtime_ns,
        url, fetched, int(merged),
    )  # fmt: skip


def _written_row(written: Written) -> tuple:
    return (_blob(written.path), written.digest, written.size, written.mtime_ns)


def _blob(path: str) -> bytearray:
    """A path as the BLOB the state keeps it as: its bytes, in a bytearray. sqlite3 binds an int,
    float, str or bytearray as it is, but runs any other value (bytes too) through its adapters,
    a failed attribute look-up with its error message each: a third of what saving a row cost."""
    return bytearray(path_bytes(path))


def _written(row: tuple) -> Written | None:
    """A row of `outputs` as a Written, or None if it is not of the expected shape."""
    if len(row) != len(_OUTPUT_COLUMNS) or not isinstance(row[0], bytes):
        return None
    path, digest, size, mtime_ns = os.fsdecode(row[0]), *row[1:]
    if not (isinstance(digest, str | type(None)) and isinstance(size, int) and isinstance(mtime_ns, int)):
        return None
    return Written(path, digest, size, mtime_ns)
