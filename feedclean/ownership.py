"""Which files in OUT are feedclean's to replace or remove: the one check, against the one record.

The state records every file feedclean writes (state.Written: path, digest, size, mtime). A
file at an output path is replaced, or removed by --dedupe, only when it is absent, when it
already holds exactly what would be written, or when the record says feedclean wrote exactly
what it holds now. Anything else (a note of yours, an input, an output you edited) is never
touched, whatever it starts with: a hand-written about.md with front matter was once replaced
because only its first bytes were compared with how outputs begin.
"""

from __future__ import annotations

import contextlib
import os
import stat

from .stable import digest
from .state import Written
from .write import read_at_most

NOT_A_FILE = "is not a regular file; move it away"
NOT_WRITTEN = "exists and was not written by feedclean; not overwritten (move it, or choose another -o)"
CHANGED = "was changed since feedclean wrote it; not overwritten (delete it to have it written again)"


def foreign(path: str, record: Written | None, data: bytes | None = None) -> str | None:
    """Why the file at `path` is not feedclean's to replace with `data` (or to remove, when `data`
    is None), or None when it is: absent, holding `data` already, or as `record` says it was written.

    A size and mtime as recorded vouch for the content without reading it (an unchanged re-run
    reads nothing); otherwise the content is read and compared. A symlink is never feedclean's.
    """
    try:
        status = os.lstat(path)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(status.st_mode):
        return NOT_A_FILE
    if record is not None and (status.st_size, status.st_mtime_ns) == (record.size, record.mtime_ns):
        return None
    sizes = {len(data)} if data is not None else set()
    if record is not None and record.digest is not None:
        sizes.add(record.size)
    content = _read(path) if status.st_size in sizes else None
    if content is not None and (content == data or (record is not None and digest(content) == record.digest)):
        return None
    return NOT_WRITTEN if record is None else CHANGED


def written_record(relative: str, data: bytes, status: os.stat_result) -> Written:
    """The record of a file just written (or found holding `data` already)."""
    return Written(relative, digest(data), status.st_size, status.st_mtime_ns)


def remove_owned(path: str, record: Written | None) -> bool:
    """Remove the output at `path` if it is feedclean's (see `foreign`); whether it is gone now."""
    if foreign(path, record) is not None:
        return False
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    return True


def _read(path: str) -> bytes | None:
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return read_at_most(descriptor, os.fstat(descriptor).st_size + 1)
    except OSError:
        return None
    finally:
        os.close(descriptor)
