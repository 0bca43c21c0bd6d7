"""What a run allows each input: how big it may be, how calm before it is read, how long it may take.

A time limit must hold inside C code too: libxml2 once spent two minutes on
one element with 100,000 attributes, where no signal handler could interrupt
it. So a conversion runs in a child process that is killed when its time is
up: here for one input (stdin, a single file, `feedclean explain`) and for
inputs read one after another (`feedclean learn`), in workers.py for a batch.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import signal
import stat
import time
from collections.abc import Callable, Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, NoReturn, TypeVar

from .article import InputError
from .paths import OUTPUT_ITSELF, discover, display_path, is_output
from .write import read_at_most

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

# The largest input converted by default (--max-size).
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
# An input modified this recently may still be being written: wait until it has been calm this long.
DEFAULT_SETTLE_SECONDS = 1.0
# The most one input may take to convert (a pathological document, a backtracking rule).
DEFAULT_TIMEOUT_SECONDS = 60.0
# prctl(2) option: the signal a process gets when its parent dies (Linux).
_PR_SET_PDEATHSIG = 1

_Result = TypeVar("_Result")


class TimedOut(Exception):
    """The conversion of one input took longer than the time limit."""


class ProcessDied(Exception):
    """The process converting one input died (out of memory, a crash in a C library)."""

    def __init__(self) -> None:
        super().__init__("the process converting it died (out of memory, or a crash in a library)")


def over_size_limit(limit: int, size: int | None = None) -> str:
    """What to tell the user of an input over --max-size; `size` None when only so much was read (stdin)."""
    if size is None:
        return f"more than {limit:,} bytes, over the limit (raise it with --max-size)"
    return f"file is {size:,} bytes, over the {limit:,}-byte limit (raise it with --max-size)"


def over_time_limit(seconds: float) -> str:
    """What to tell the user: the usual culprit is a user rule's regex, so say where to look."""
    return f"took longer than {seconds:g} s to convert (raise the limit with --timeout; check user rules' regexes)"


def input_problem(error: Exception, seconds: float) -> str:
    """The one line that names why an input run through `within_time_limit` failed: the
    input's own fault in its words, a time limit or a dead process, or a bug to report."""
    if isinstance(error, InputError | ProcessDied):
        return str(error)
    if isinstance(error, RecursionError):
        return "markup nested too deeply to convert"
    if isinstance(error, TimedOut):
        return over_time_limit(seconds)
    return f"internal error ({type(error).__name__}: {error}); please report it"


def read_input(path: str, max_bytes: int) -> bytes:
    """An input's bytes, as `convert` reads them: a regular file only (opened without blocking,
    so a FIFO swapped in never hangs), refused unread when over the size limit."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            status = os.fstat(descriptor)
            if not stat.S_ISREG(status.st_mode):
                raise InputError("not a regular file (a FIFO, device or socket)")
            if status.st_size > max_bytes:
                raise InputError(over_size_limit(max_bytes, status.st_size))
            return read_at_most(descriptor, max_bytes + 1)
        finally:
            os.close(descriptor)
    except OSError as error:
        raise InputError(f"cannot read: {error.strerror or error}") from None


def within_time_limit(seconds: float, function: Callable[..., _Result], *arguments: Any, **keywords: Any) -> _Result:
    """`function(*arguments, **keywords)`, run in a forked child killed after `seconds` (TimedOut).

    The child's result (or exception) comes back pickled, so it must be picklable. With no limit
    (0), or where there is no fork, the function runs here. Costs a fork: about a millisecond.
    """
    if seconds <= 0 or not hasattr(os, "fork"):
        return function(*arguments, **keywords)
    kernel_call_prctl()
    reader, writer = os.pipe()
    parent = os.getpid()
    child = os.fork()
    if child == 0:
        os.close(reader)
        _answer(writer, parent, function, arguments, keywords)
    os.close(writer)
    try:
        answer = _read_until(reader, time.monotonic() + seconds)
    finally:
        os.close(reader)
        with contextlib.suppress(OSError):
            os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
    if answer is None:
        raise TimedOut
    if not answer:
        raise ProcessDied
    return _outcome(answer)


def _answer(writer: int, parent: int, function: Callable, arguments: tuple, keywords: dict) -> None:
    """The child: call, send back what came of it, and leave without running the parent's exit handlers."""
    _become_child(parent)
    data = _called(function, arguments, keywords)
    with contextlib.suppress(OSError):
        view = memoryview(data)
        while view:
            view = view[os.write(writer, view) :]
    os._exit(0)


def _become_child(parent: int) -> None:
    """Ctrl-C is the parent's to handle (it kills the child), and the child dies with the parent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(parent)


def _called(function: Callable, arguments: tuple, keywords: dict) -> bytes:
    """What came of a call, pickled for the parent: (True, the value) or (False, the exception)."""
    try:
        answer = (True, function(*arguments, **keywords))
    except BaseException as error:  # whatever happened is the parent's to report
        answer = (False, error)
    try:
        return pickle.dumps(answer)
    except Exception as error:
        return pickle.dumps((False, RuntimeError(f"{type(error).__name__}: {error}")))


def _outcome(answer: bytes) -> Any:
    """The value a child's call returned, or the exception it raised, raised here."""
    returned, value = pickle.loads(answer)
    if not returned:
        raise value
    return value


class TimeLimitedCalls(Generic[_Result]):
    """`function` called again and again, each call held to `seconds` as `within_time_limit`
    holds one, but in one child process kept between calls: a fork per call would compile the
    rules for each host again in every child (a tenth of a second for each input), where a kept
    child compiles them once. A call past its time, or one that kills the child, costs the child
    (TimedOut, ProcessDied); the next call forks a new one. Use it in a `with` block, which ends
    the child. With no limit (0), or where there is no fork, the function runs here.

    Only the arguments of each call cross to the child: `function` (with what it holds, such as
    the rules) is the child's own copy from the fork, whose caches live as long as it does."""

    def __init__(self, seconds: float, function: Callable[..., _Result]) -> None:
        self._seconds = seconds
        self._function = function
        self._child: int | None = None
        self._connection: Connection | None = None

    def __enter__(self) -> TimeLimitedCalls[_Result]:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def __call__(self, *arguments: Any) -> _Result:
        if self._seconds <= 0 or not hasattr(os, "fork"):
            return self._function(*arguments)
        request = pickle.dumps(arguments)
        connection = self._connection or self._start()
        try:
            connection.send_bytes(request)
        except OSError:  # the child died while it waited (the OOM killer): no fault of this call's
            self.close()
            connection = self._start()
            connection.send_bytes(request)
        try:
            answer = connection.recv_bytes() if connection.poll(self._seconds) else None
        except (EOFError, OSError):
            self.close()
            raise ProcessDied from None
        if answer is None:
            self.close()
            raise TimedOut
        return _outcome(answer)

    def _start(self) -> Connection:
        from multiprocessing import Pipe  # here: every command line loads this module, few need this

        kernel_call_prctl()
        mine, theirs = Pipe()
        parent = os.getpid()
        child = os.fork()
        if child == 0:
            mine.close()
            _serve_calls(theirs, parent, self._function)
        theirs.close()
        self._child, self._connection = child, mine
        return mine

    def close(self) -> None:
        """End the child, if there is one (it holds nothing that needs a goodbye)."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        if self._child is not None:
            with contextlib.suppress(OSError):
                os.kill(self._child, signal.SIGKILL)
            os.waitpid(self._child, 0)
            self._child = None


def _serve_calls(connection: Connection, parent: int, function: Callable) -> NoReturn:
    """A kept child's life: answer each call, until the parent closes its end."""
    _become_child(parent)
    while True:
        try:
            arguments = pickle.loads(connection.recv_bytes())
            connection.send_bytes(_called(function, arguments, {}))
        except (EOFError, OSError):
            os._exit(0)


def _read_until(reader: int, deadline: float) -> bytes | None:
    """All the child writes, or None if the deadline passes first."""
    chunks = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([reader], [], [], remaining)[0]:
            return None
        chunk = os.read(reader, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def die_with_parent(parent: int) -> None:
    """Ask the kernel (Linux) to kill this process when `parent` dies; exit at once if it already has."""
    prctl = kernel_call_prctl()
    if prctl is None:
        return
    prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)


@cache
def kernel_call_prctl() -> Callable[..., int] | None:
    """libc's prctl, or None where there is none. Called before forking, so a child need not
    load ctypes (a few milliseconds, on every conversion of stdin)."""
    import ctypes

    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def each_input(
    paths: Iterable[Path],
    globs: tuple[str, ...],
    seconds: float,
    function: Callable[[str, str], _Result],
    output: tuple[int, int] | None = None,
) -> Iterator[tuple[str, _Result | None, str | None]]:
    """Each input under `paths` with what `function(path, name)` made of it, called in a kept
    child held to `seconds` (TimeLimitedCalls): (name, result, None), or (name, None, the
    one-line problem) for an input that could not be found, read or converted, or that is the
    file `output` (its device and inode), the one the results are written to.

    Inputs are found as `convert` finds them (hidden files skipped, --glob, a file under two
    roots once) and go one after another in that order, so only one input's result is held at
    a time and a bad one costs itself alone."""
    seen: set[str] = set()
    with TimeLimitedCalls(seconds, function) as call:
        for found in discover(paths, None, globs):
            if found.key in seen:
                continue
            seen.add(found.key)
            name = display_path(found.path)
            problem = found.problem or (OUTPUT_ITSELF if is_output(found.path, output) else None)
            if problem is not None:
                yield name, None, problem
                continue
            try:
                result = call(found.path, name)
            except Exception as error:  # one line for the input, whatever went wrong
                yield name, None, input_problem(error, seconds)
                continue
            yield name, result, None
