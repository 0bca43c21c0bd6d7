"""Reading an input a scraper may still be writing: wait for it to settle, and notice any change.

An input is read whole, and only if it looks the same before and after the
read, and as it did when the run planned it; anything else is a scraper
still at work, and the input is left for the next run.
"""

from __future__ import annotations

import hashlib
import os
import stat
import time

from .tasks import Task
from .write import read_at_most


class Deferred(Exception):
    """The input changed while it was read: the scraper is still writing it."""


def read_stable(task: Task) -> tuple[bytes, os.stat_result]:
    """The input's bytes, unless it changes (or changed since planning) while being read.

    An input modified within the last `settle` seconds may still be being
    written by a scraper that pauses between writes: it is read only once it
    has been left alone that long. The file is opened without blocking and
    must be a regular file (a FIFO would hang the run).
    """
    age = time.time() - task.mtime_ns / 1e9
    if 0 <= age < task.settle:  # a time in the future is a skewed clock, not a writer: no wait
        time.sleep(task.settle - age)
    descriptor = os.open(task.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        before = os.fstat(descriptor)
        if not stat.S_ISREG(before.st_mode):
            raise OSError(0, "not a regular file")
        data = read_at_most(descriptor, min(before.st_size, task.max_bytes) + 1)
        after = os.fstat(descriptor)
    finally:
        os.close(descriptor)
    key = (before.st_size, before.st_mtime_ns)
    if key != (after.st_size, after.st_mtime_ns) or len(data) != after.st_size or key != (task.size, task.mtime_ns):
        raise Deferred
    return data, after


def stat_key(status: os.stat_result | None) -> tuple[int, int]:
    """What tells one version of a file from the next: size and mtime; (-1, -1) when it is gone."""
    return (status.st_size, status.st_mtime_ns) if status is not None else (-1, -1)


def stat_or_none(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:
        return None


def stat_if_there(path: str) -> os.stat_result | None:
    """stat_or_none for a file mostly absent (an output, on a first run): asked first, as the
    exception an absent file raises costs five times the question."""
    return stat_or_none(path) if os.access(path, os.F_OK) else None


def digest(data: bytes) -> str:
    """The content hash the state keeps of an input."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()
