"""OUT/.feedclean, feedclean's own folder in an output folder, opened so that nothing in it leads outside.

    lock           held (flock) by the run writing to OUT, one run at a time; holds its PID
    state.sqlite3  what each input looked like when last converted (state.py), with SQLite's
                   -wal, -shm and -journal files beside it
    running        present while a run writes, listing the run's processes; found at start, it
                   means the last run was killed, and those processes' temporary files are swept

A hostile or careless hand can put a symlink here (`ln -s ../../v.txt OUT/.feedclean/lock`), or
make the folder itself one: a run then wrote its PID, its marker or its database wherever the
link pointed. So the folder is opened once without following a link and checked (a folder,
owned by whoever runs feedclean), and every file in it is opened relative to that folder,
without following a link, and must be a plain file of its own (`StateFolder.open`).
SQLite opens its files by name, so those are checked before it opens them (`StateFolder.check`)
and the file it opened is checked after (state.py).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .paths import STATE_DIR
from .write import TEMP_SUFFIX, make_folders, sweep_temporary_files

_LOCK = "lock"
_RUNNING = "running"
_NO_FOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK  # O_NONBLOCK: a FIFO planted there must not hang the run


_REMOVE_IT = "feedclean follows no link there and opens nothing but plain files: remove it"


class LockBusy(Exception):
    """Another run holds the output folder's lock."""


class UnsafeStateFile(OSError):
    """A file in OUT/.feedclean (or the folder itself) that feedclean will not open: a symlink, a
    folder, a FIFO, or a folder owned by someone else. Said in one line, naming it."""

    def __init__(self, shown: str, problem: str, advice: str = _REMOVE_IT) -> None:
        super().__init__(errno.EPERM, f"{problem}; {advice}", shown)


class StateFolder:
    """OUT/.feedclean, open and checked; every file feedclean keeps there is opened through it."""

    def __init__(self, output_dir: Path, descriptor: int) -> None:
        self.output_dir = output_dir
        self.shown = os.path.join(os.fspath(output_dir), STATE_DIR)
        self._descriptor = descriptor
        status = os.fstat(descriptor)
        if hasattr(os, "geteuid") and status.st_uid != os.geteuid():
            self.close()
            mine = f"not of user {os.geteuid()} who runs feedclean"
            raise UnsafeStateFile(self.shown, f"its state folder is one of user {status.st_uid}, {mine}", "run as its owner")
        self.real = os.path.join(os.path.realpath(output_dir), STATE_DIR)
        if not _same_file(self.real, status):
            self.close()
            raise UnsafeStateFile(self.shown, "its state folder was replaced while feedclean opened it", "try again")

    @classmethod
    def create(cls, output_dir: Path) -> StateFolder:
        """The folder of a run that writes: OUT and OUT/.feedclean are made if need be."""
        make_folders(os.fspath(output_dir))
        with contextlib.suppress(FileExistsError):
            os.mkdir(os.path.join(output_dir, STATE_DIR))
        return cls(output_dir, cls._open_folder(output_dir))

    @classmethod
    def existing(cls, output_dir: Path) -> StateFolder | None:
        """The folder as it is, for a run that only reads (a dry run); None if there is none."""
        try:
            return cls(output_dir, cls._open_folder(output_dir))
        except FileNotFoundError:
            return None

    @staticmethod
    def _open_folder(output_dir: Path) -> int:
        shown = os.path.join(os.fspath(output_dir), STATE_DIR)
        parent = os.open(output_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            return os.open(STATE_DIR, os.O_RDONLY | os.O_DIRECTORY | _NO_FOLLOW, dir_fd=parent)
        except OSError as error:
            if error.errno in (errno.ELOOP, errno.ENOTDIR):
                raise UnsafeStateFile(shown, "its state folder is a symlink or a file, not a folder") from None
            raise
        finally:
            os.close(parent)

    def open(self, name: str, flags: int) -> int:
        """The one way a file here is opened: relative to the checked folder, never through a
        link, and only a plain file. One that may have another name elsewhere (a hard link) is
        not to be written: `check` it first, or see `shared`."""
        try:
            descriptor = os.open(name, flags | _NO_FOLLOW, 0o666, dir_fd=self._descriptor)
        except OSError as error:
            if error.errno in (errno.ELOOP, errno.EISDIR, errno.ENXIO):
                raise UnsafeStateFile(self.path_of(name), "a state file that is a symlink, a folder or a FIFO") from None
            error.filename = self.path_of(name)
            raise
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            os.close(descriptor)
            raise UnsafeStateFile(self.path_of(name), "a state file that is not a plain file")
        return descriptor

    def check(self, name: str, writing: bool = True) -> os.stat_result | None:
        """The status of a file here, None if there is none; UnsafeStateFile unless it is a plain
        file. Checked so before SQLite opens one by name.

        A file to be written that has another name elsewhere (a hard link: backups made with
        `cp -al` or rsnapshot leave them) is first copied to a file of its own, so writing it
        never changes the other name's file.
        """
        try:
            status = os.stat(name, dir_fd=self._descriptor, follow_symlinks=False)
        except FileNotFoundError:
            return None
        if not stat.S_ISREG(status.st_mode):
            raise UnsafeStateFile(self.path_of(name), "a state file that is a symlink, a folder or a FIFO")
        if writing and status.st_nlink > 1:
            self._unshare(name)
            return os.stat(name, dir_fd=self._descriptor, follow_symlinks=False)
        return status

    def _unshare(self, name: str) -> None:
        copy = f"{name}{TEMP_SUFFIX}"
        self.unlink(copy)
        source = self.open(name, os.O_RDONLY)
        try:
            target = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NO_FOLLOW, 0o600, dir_fd=self._descriptor)
            try:
                while chunk := os.read(source, 1 << 20):
                    view = memoryview(chunk)
                    while view:
                        view = view[os.write(target, view) :]
            finally:
                os.close(target)
        finally:
            os.close(source)
        os.rename(copy, name, src_dir_fd=self._descriptor, dst_dir_fd=self._descriptor)

    def unlink(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=self._descriptor)

    def real_path_of(self, name: str) -> str:
        """The file's real path, for SQLite, which takes names only."""
        return os.path.join(self.real, name)

    def path_of(self, name: str) -> str:
        """The file's path as the user named the output folder, for messages."""
        return os.path.join(self.shown, name)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._descriptor)


def shared(descriptor: int) -> bool:
    """Whether an open file has another name too (a hard link), so writing it writes that file."""
    return os.fstat(descriptor).st_nlink > 1


def _same_file(path: str, status: os.stat_result) -> bool:
    try:
        named = os.stat(path, follow_symlinks=False)
    except OSError:
        return False
    return (named.st_dev, named.st_ino) == (status.st_dev, status.st_ino)


@dataclass
class HeldRun:
    """What a run holds while it writes to OUT: the state folder, the lock, the running marker.

    The marker lists the run's processes, one PID a line, so the run after a killed one sweeps
    the temporary files those processes left, and nobody else's (`.PID.N.feedclean-tmp`).
    """

    folder: StateFolder
    lock: int
    marker: int
    processes: list[int] = field(default_factory=list)

    def add_process(self, pid: int) -> None:
        """Record a worker process before it writes anything."""
        self.processes.append(pid)
        os.write(self.marker, f"{pid}\n".encode())


@contextlib.contextmanager
def output_lock(
    output_dir: Path, wait: bool, on_wait: Callable[[str], None] | None = None, inputs: Iterable[Path] = ()
) -> Iterator[HeldRun]:
    """Hold OUT/.feedclean/lock for the duration; raise LockBusy if taken and not waiting.

    Found at start, the running marker says the last run was killed: the temporary files of the
    processes it lists are swept from OUT, never from `inputs` (input folders inside OUT).
    """
    folder = StateFolder.create(output_dir)
    try:
        lock = folder.open(_LOCK, os.O_RDWR | os.O_CREAT)
        try:
            _take(lock, wait, on_wait)
            with _running_marker(folder, output_dir, inputs) as marker:
                yield HeldRun(folder, lock, marker, [os.getpid()])
        finally:
            os.close(lock)  # closing releases the flock
    finally:
        folder.close()


def _take(lock: int, wait: bool, on_wait: Callable[[str], None] | None) -> None:
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        if not wait:
            raise LockBusy(_holder(lock)) from None
        if on_wait is not None:
            on_wait(_holder(lock))
        fcntl.flock(lock, fcntl.LOCK_EX)
    if not shared(lock):  # copying it to a file of its own would leave a run holding the old one
        os.ftruncate(lock, 0)
        os.pwrite(lock, f"{os.getpid()}\n".encode(), 0)


@contextlib.contextmanager
def _running_marker(folder: StateFolder, output_dir: Path, inputs: Iterable[Path]) -> Iterator[int]:
    killed = folder.check(_RUNNING) is not None
    marker = folder.open(_RUNNING, os.O_RDWR | os.O_CREAT | os.O_APPEND)
    if shared(marker):  # made a hard link between the check and the open
        os.close(marker)
        raise UnsafeStateFile(folder.path_of(_RUNNING), "a state file given another name while feedclean opened it", "try again")
    try:
        if killed:
            left_by = _pids(os.pread(marker, 1 << 16, 0))
            sweep_temporary_files(output_dir, left_by, inputs)
        os.ftruncate(marker, 0)
        os.write(marker, f"{os.getpid()}\n".encode())
        yield marker
    finally:
        os.close(marker)
        with contextlib.suppress(OSError):
            folder.unlink(_RUNNING)


def _pids(text: bytes) -> set[int]:
    return {int(line) for line in text.split() if line.isdigit()}


def _holder(lock: int) -> str:
    pid = os.pread(lock, 32, 0).strip()
    return f"pid {pid.decode()}" if pid.isdigit() else "another process"
