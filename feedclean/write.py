"""Stage 6, write: atomic output files, what tells whether one is still as written, and the run's report.

What feedclean keeps about an output folder lives in OUT/.feedclean/ (statefolder.py, state.py);
which files in OUT are feedclean's to replace is ownership.py's to say.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import itertools
import json
import os
import stat
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

from .paths import STATE_DIR, identities, is_item_name, walk_folders

TEMP_SUFFIX = ".feedclean-tmp"
_temp_names = itertools.count()
# How a report feedclean wrote begins (see batch.Summary.as_dict, and an error report).
_REPORT_STARTS = (b'{\n  "version"', b'{\n  "error"')
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
_FS_ENCODING, _FS_ERRORS = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()


def write_atomic(path: Path | str, data: bytes) -> os.stat_result:
    """Write `data` to `path` through a temporary file and a rename, unless it holds `data`
    already; return the status of the file at `path` (what the state records of an output).

    A run killed at any moment leaves either the old file or the new one,
    never a partial one. Temporary names are short (a long output name must
    still fit) and end in TEMP_SUFFIX, so they never match *.md or *.json.
    A file replaced keeps its permission bits: a feed or a report made
    readable by its owner alone (chmod 600) must not come back readable by
    all. (Not its set-user-id, set-group-id or sticky bits: the new file is
    the runner's, which those bits on the old one did not mean.)
    Plain os calls: Python's file objects add a few system calls per file.
    """
    path = os.fspath(path)
    existing, holding = _existing(path, data)
    if holding:
        return existing
    temporary, status = _temporary_holding(path, data, stat.S_IMODE(existing.st_mode) & 0o777 if existing else None)
    try:
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return status


def write_new(path: str, data: bytes) -> os.stat_result | None:
    """Write `data` to `path` as write_atomic does, but only if nothing is there (no file, no
    symlink): the temporary file is renamed so that the kernel refuses if anything is. The status
    of the new file; None, with nothing written, if something was there or the system cannot
    rename so (not Linux, or a file system without it).

    On a first run every output is new, and looking before writing (an absent file's exception,
    twice) cost more than the write.
    """
    if not _rename_no_replace.possible():
        return None
    temporary, status = _temporary_holding(path, data)
    renamed = False
    try:
        renamed = _rename_no_replace(temporary, path)
    finally:
        if not renamed:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
    return status if renamed else None


class _RenameNoReplace:
    """A rename that never replaces anything: Linux's renameat2 with RENAME_NOREPLACE, through
    libc (os.rename replaces whatever is there). Looked up on first use, so a run that writes
    nothing loads no ctypes; off once the system or a file system refuses it."""

    _AT_CWD = -100
    _NO_REPLACE = 1
    _REFUSED = (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EPERM)

    def __init__(self) -> None:
        self._call: Callable[..., int] | None = None
        self._errno: Callable[[], int] = int
        self._looked_up = False

    def possible(self) -> bool:
        if not self._looked_up:
            self._looked_up = True
            self._look_up()
        return self._call is not None

    def __call__(self, source: str, target: str) -> bool:
        """Whether `source` is now `target`: False if anything was there, or the rename failed."""
        if self._call(self._AT_CWD, path_bytes(source), self._AT_CWD, path_bytes(target), self._NO_REPLACE) == 0:
            return True
        if self._errno() in self._REFUSED:
            self._call = None
        return False

    def _look_up(self) -> None:
        if sys.platform != "linux":
            return
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            self._call = ctypes.CDLL(None, use_errno=True).renameat2
            self._errno = ctypes.get_errno


_rename_no_replace = _RenameNoReplace()


def _temporary_holding(path: str, data: bytes, mode: int | None = None) -> tuple[str, os.stat_result]:
    """A new temporary file beside `path` holding `data`, with the permission bits `mode` if
    given (else as the umask has them), and its status."""
    folder = os.path.dirname(path) or "."
    temporary = f"{folder}{os.sep}.{os.getpid()}.{next(_temp_names)}{TEMP_SUFFIX}"
    try:
        try:
            descriptor = os.open(temporary, _NEW_FILE, 0o666)
        except FileNotFoundError:  # the folder is new: made only then, not checked before every write
            make_folders(folder)
            descriptor = os.open(temporary, _NEW_FILE, 0o666)
        try:
            written = 0
            while written < len(data):
                written += os.write(descriptor, data[written:])
            if mode is not None:
                os.fchmod(descriptor, mode)
            status = os.fstat(descriptor)
        finally:
            os.close(descriptor)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return temporary, status


def _existing(path: str, data: bytes) -> tuple[os.stat_result | None, bool]:
    """The status of the regular file at `path` (None if there is none), and whether it holds exactly `data`."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except (FileNotFoundError, NotADirectoryError):
        return None, False
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            return None, False
        return status, status.st_size == len(data) and read_at_most(descriptor, len(data) + 1) == data
    finally:
        os.close(descriptor)


def path_bytes(path: str) -> bytes:
    """A path as the file system's bytes: os.fsencode, without its checks (a few a conversion)."""
    return path.encode(_FS_ENCODING, _FS_ERRORS)


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
                if is_item_name(entry.name) and entry.is_file()
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
    return replacement_problem(path, _REPORT_STARTS, "a feedclean report", "--report")


def replacement_problem(path: Path | str, starts: tuple[bytes, ...], kind: str, option: str) -> str | None:
    """Why the file at `path` must not be replaced by `kind`, a file that begins with one of
    `starts`, or None: such a file replaces only an earlier one of its kind or an empty file
    (a path mistyped onto an input, a hand-written file or a device costs nothing)."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as error:
        return f"cannot check it: {error.strerror or error}"
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            return "not a regular file; not replaced"
        start = os.read(descriptor, max(map(len, starts)))
    finally:
        os.close(descriptor)
    if start and not start.startswith(starts):
        return f"holds a file that is not {kind}; not replaced (move it, or choose another {option})"
    return None


def sweep_temporary_files(root: Path | str, pids: Iterable[int], inputs: Iterable[Path | str] = ()) -> None:
    """Delete the temporary files that processes `pids` (a killed run's, a killed worker's) left under `root`.

    Only feedclean's own: named `.PID.N.feedclean-tmp` by one of those processes (write_atomic's
    names), in OUT but not in its state folder or in an input folder inside it. A file of yours
    that merely ends in .feedclean-tmp (an input, once) is never one of them.
    """
    pids = set(pids)
    if not pids:
        return
    root = os.fspath(root)
    skip = identities([*inputs, os.path.join(root, STATE_DIR)])
    for folder, files in walk_folders(root, skip):
        for name in files:
            if _temporary_of(name, pids):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(folder, name))


def _temporary_of(name: str, pids: set[int]) -> bool:
    pid, dot, rest = name[1:].partition(".")
    number = rest.removesuffix(TEMP_SUFFIX)
    return (
        name.startswith(".") and dot == "." and pid.isdigit() and int(pid) in pids
        and rest.endswith(TEMP_SUFFIX) and number.isdigit()
    )  # fmt: skip


def make_folders(path: str) -> None:
    """os.makedirs without its recursion: the folders of a deep input tree (a thousand levels
    once overflowed Python's stack) are made from the deepest that exists downwards."""
    missing = []
    while path and not os.path.isdir(path):
        missing.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            os.mkdir(folder)
