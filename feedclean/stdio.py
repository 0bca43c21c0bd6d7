"""Articles to stdout: a dump piped in, a single file given without -o, or any inputs as JSON
Lines. Reading stops at --max-size, conversions run under --timeout in a process of their own,
and any failure, of an input or of stdout, is one line and a status, never a traceback."""

from __future__ import annotations

import contextlib
import os
import stat
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, NoReturn, TypeVar

import click

from .clitypes import EXIT_FAILED, CommandError
from .limits import input_problem, over_size_limit, within_time_limit
from .paths import OUTPUT_ITSELF, display_path, is_output
from .rules import RuleSet
from .write import write_atomic

T = TypeVar("T")

# Standard input and single files are read this much at a time, up to --max-size.
_READ_CHUNK = 1024 * 1024


def read_one(path: Path, name: str, max_size: int) -> bytes:
    """A single input file's bytes; a FIFO, a device, a file over the limit or the file stdout
    goes to (`convert a.txt >> a.txt`) is refused unread."""
    try:
        status = path.stat()
        if not stat.S_ISREG(status.st_mode):
            fail(name, "not a regular file (a FIFO, device or socket)")
        if is_output(str(path), stdout_file()):
            fail(name, OUTPUT_ITSELF)
        if status.st_size > max_size:
            fail(name, over_size_limit(max_size, status.st_size))
        with path.open("rb") as handle:
            return _read_limited(handle, max_size, name)
    except OSError as error:
        fail(name, f"cannot read: {error.strerror or error}")


def _read_limited(handle: BinaryIO, limit: int, name: str) -> bytes:
    """All of an input, a chunk at a time (a limit of gigabytes allocates nothing up front);
    one byte more than `limit` fails it, with no need to read the rest."""
    chunks = []
    size = 0
    while size <= limit:
        chunk = handle.read(min(_READ_CHUNK, limit + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > limit:
        fail(name, over_size_limit(limit))
    return b"".join(chunks)


def stdin_bytes(max_size: int) -> bytes:
    if sys.stdin is None or sys.stdin.isatty():
        raise click.UsageError("no input: give files or folders to convert, or pipe a dump into stdin")
    return _read_limited(sys.stdin.buffer, max_size, "<stdin>")


def convert_to_stdout(data: bytes, name: str, output_format: str, rules: RuleSet, max_size: int, timeout: float) -> None:
    """One input's articles on stdout (a feed's as a JSON array, or Markdown files one after another)."""
    from .pipeline import render_with_warnings  # loaded here, so the child process that converts has it already

    text, warnings = guarded(name, timeout, render_with_warnings, data, name, output_format, rules, max_size)
    _say_warnings(name, warnings)
    with to_stdout():
        sys.stdout.buffer.write(text.encode("utf-8"))


def stream_to_stdout(
    paths: list[Path], output_format: str, rules: RuleSet, globs: tuple[str, ...], max_size: int, timeout: float, quiet: bool
) -> None:
    """Every input's articles on stdout, in input order, as each is converted (pipeline.convert_paths):
    a bad input is one line on stderr and the stream goes on; the status is 1 if any failed.
    Each input's lines are flushed before the next input's stderr line, so that `2>&1` keeps
    every message where it happened; the file stdout goes to is never read as an input."""
    from .pipeline import convert_paths

    failed = False
    stream = convert_paths(
        paths, output_format, rules=rules, globs=globs, max_bytes=max_size, timeout=timeout, output=stdout_file()
    )
    with to_stdout(), contextlib.closing(stream):  # closing it ends the process that converts
        for converted in stream:
            if converted.problem is not None:
                failed = True
                _say_error(converted.name, converted.problem)
                continue
            if not quiet:
                _say_warnings(converted.name, converted.warnings)
            sys.stdout.buffer.write(converted.text.encode("utf-8"))
            sys.stdout.flush()
    if failed:
        sys.exit(EXIT_FAILED)


def stdout_file() -> tuple[int, int] | None:
    """The (device, inode) of the file stdout goes to (`> all.jsonl`), which no input may be
    (paths.is_output); None for a pipe, a terminal, /dev/null or no stdout at all."""
    try:
        status = os.fstat(sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):  # None, closed, or no file (a test's buffer)
        return None
    return (status.st_dev, status.st_ino) if stat.S_ISREG(status.st_mode) else None


def write_output(data: bytes, target: Path | None, output_file: Path | None) -> None:
    """A command's file to stdout, or atomically to -o's target."""
    if target is None:
        with to_stdout():
            sys.stdout.buffer.write(data)
        return
    try:
        write_atomic(target, data)
    except OSError as error:
        raise CommandError(f"cannot write {display_path(str(output_file))}: {error.strerror or error}") from None


def guarded(name: str, timeout: float, function: Callable[..., T], *args, **kwargs) -> T:
    """`function(*args, **kwargs)` in a process killed after `timeout` seconds (limits.py); any
    failure is one line about `name`."""
    try:
        return within_time_limit(timeout, function, *args, **kwargs)
    except Exception as error:  # a bug too must give one line, never a traceback
        fail(name, input_problem(error, timeout))


@contextlib.contextmanager
def to_stdout() -> Iterator[None]:
    """Around writing to stdout: a closed or full stdout is one line, never a traceback."""
    if sys.stdout is None:
        fail("stdout", "closed: nowhere to write the output (redirect it to a file)")
    try:
        yield
        sys.stdout.flush()
    except OSError as error:
        stdout_failed(error)


def stdout_failed(error: BaseException | None) -> NoReturn:
    """The reader of our output went away (`--dry-run | head`): stop quietly, as `cat` would;
    any other failure (a full disk) is said."""
    if not isinstance(error, BrokenPipeError):
        click.echo(f"feedclean: error: cannot write to stdout: {getattr(error, 'strerror', None) or error}", err=True)
    with contextlib.suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing more to flush at exit
    sys.exit(EXIT_FAILED)


def fail(name: str, reason: str) -> NoReturn:
    _say_error(name, reason)
    sys.exit(EXIT_FAILED)


def _say_error(name: str, reason: str) -> None:
    click.echo(f"feedclean: error: {name}: {reason}", err=True)


def _say_warnings(name: str, warnings: list[str]) -> None:
    for warning in warnings:
        click.echo(f"feedclean: warning: {name}: {warning}", err=True)
