"""Stage 6, write: atomic output files, the output folder's lock, and the run's report.

Everything feedclean keeps about an output folder lives in OUT/.feedclean/:

    lock           held (flock) by the run writing to OUT; one run at a time
    state.sqlite3  what each input looked like when last converted (state.py)
    running        present while a run writes; found at start, it means the last run was
                   killed, and its temporary files are swept
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import itertools
import json
import os
import re
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from .paths import OUTPUT_STARTS, SUFFIXES

STATE_DIR = ".feedclean"
TEMP_SUFFIX = ".feedclean-tmp"
_temp_names = itertools.count()
# How a feed's items are named in its folder: the article id, and a content hash when two share it.
_FEED_ITEM_NAME = re.compile(r"[0-9a-f]{16}(?:-[0-9a-f]{8})?(?:" + "|".join(map(re.escape, SUFFIXES.values())) + ")")
# How a report feedclean wrote begins (see batch.Summary.as_dict, and an error report).
_REPORT_STARTS = (b'{\n  "version"', b'{\n  "error"')
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)


class LockBusy(Exception):
    """Another run holds the output folder's lock."""


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


def written_by_feedclean(path: str, output_format: str) -> bool:
    """Whether an existing file the state does not know starts as feedclean's outputs do
    (a lost state file, an earlier run): anything else, an input included, is never overwritten."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)  # a FIFO must not hang us
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            return False
        start = os.read(descriptor, len(OUTPUT_STARTS[output_format]))
    except OSError:
        return False
    finally:
        os.close(descriptor)
    return start == OUTPUT_STARTS[output_format]


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
