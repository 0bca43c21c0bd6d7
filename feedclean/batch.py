"""Converting folders: find inputs, skip what is unchanged, convert the rest in parallel.

Built for cron: inputs are streamed (memory stays flat), a bad input never
stops the batch, an input still being written is left for the next run, and
the output for an input depends only on that input and the options, so the
bytes are the same whatever `jobs` is.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import multiprocessing
import os
import sys
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from fnmatch import fnmatch
from pathlib import Path, PurePath

from . import __version__
from .article import InputError
from .pipeline import DEFAULT_MAX_BYTES, process
from .render import SUFFIXES, render
from .rules import BUILTIN, RuleSet
from .write import Record, State, output_lock, write_atomic

# Tasks handed to a worker at once, and chunks kept in flight per worker.
_CHUNK = 16
_WINDOW_PER_JOB = 4
# Commit the state this often, so a killed run loses at most this many records.
_CHECKPOINT_EVERY = 500


@dataclass(frozen=True)
class Options:
    """Everything that decides what a run does; see `feedclean convert --help`."""

    output_dir: Path
    output_format: str = "md"
    rule_files: tuple[Path, ...] = ()
    jobs: int = 1
    force: bool = False
    dedupe: bool = False
    dry_run: bool = False
    globs: tuple[str, ...] = ()
    max_bytes: int = DEFAULT_MAX_BYTES
    wait: bool = True


@dataclass
class Outcome:
    """What happened to one input."""

    input: str
    status: str
    reason: str = ""
    output: str | None = None
    warnings: list[str] = field(default_factory=list)
    record: Record | None = None


@dataclass
class Summary:
    counts: Counter = field(default_factory=Counter)
    failures: list[Outcome] = field(default_factory=list)
    merged: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return {
            "version": __version__,
            "converted": self.counts["converted"],
            "unchanged": self.counts["unchanged"],
            "failed": self.counts["failed"],
            "deferred": self.counts["deferred"],
            "merged": self.merged,
            "seconds": round(self.seconds, 3),
            "failures": [{"input": f.input, "reason": f.reason} for f in self.failures],
        }


@dataclass(frozen=True, slots=True)
class _Task:
    path: str
    display: str
    key: str
    output: str
    output_rel: str
    reason: str
    size: int
    mtime_ns: int
    known_digest: str | None
    fingerprint: str
    output_format: str
    max_bytes: int


class _Deferred(Exception):
    """The input changed while it was read: the scraper is still writing it."""


def discover(paths: Iterable[Path], output_dir: Path, globs: tuple[str, ...] = ()) -> Iterator[tuple[Path, PurePath]]:
    """Inputs in a stable order, with the relative path each output mirrors.

    In a folder every regular, non-hidden file is an input (hidden folders
    are skipped too), and the output folder is never entered.
    """
    output_id = _identity(output_dir)
    for root in paths:
        if not root.is_dir():
            yield root, PurePath(root.name)
            continue
        for folder, folders, files in os.walk(root):
            folders[:] = sorted(d for d in folders if not d.startswith(".") and _identity(Path(folder, d)) != output_id)
            for name in sorted(files):
                if name.startswith("."):
                    continue
                path = Path(folder, name)
                relative = path.relative_to(root)
                if globs and not any(_glob_matches(relative, pattern) for pattern in globs):
                    continue
                if path.is_file():
                    yield path, relative


def _glob_matches(relative: PurePath, pattern: str) -> bool:
    return relative.match(pattern) or fnmatch(relative.as_posix(), pattern)


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_dev, status.st_ino


def options_fingerprint(rules: RuleSet, output_format: str) -> str:
    """Changes whenever the output for an unchanged input could change."""
    source = json.dumps([__version__, output_format, rules.digest_source])
    return hashlib.sha256(source.encode()).hexdigest()[:16]


def run(
    paths: list[Path],
    options: Options,
    rules: RuleSet,
    listener: Callable[[Outcome], None],
    on_wait: Callable[[str], None] | None = None,
) -> Summary:
    """Convert `paths` into `options.output_dir`; report each input to `listener`.

    Raises LockBusy when another run holds the folder and `options.wait` is off.
    """
    started = time.monotonic()
    summary = Summary()
    if options.dry_run:
        state = State(options.output_dir, read_only=True)
        _consume(_plan(paths, options, rules, state), summary, listener, None)
        state.close()
    else:
        with output_lock(options.output_dir, options.wait, on_wait):
            state = State(options.output_dir)
            try:
                outcomes = _execute(_plan(paths, options, rules, state), options, rules)
                _consume(outcomes, summary, listener, state)
                if options.dedupe:
                    summary.merged = _merge_duplicates(state, options.output_dir, SUFFIXES[options.output_format])
            finally:
                state.close()
    summary.seconds = time.monotonic() - started
    return summary


def _consume(outcomes: Iterable[Outcome], summary: Summary, listener: Callable[[Outcome], None], state: State | None) -> None:
    for count, outcome in enumerate(outcomes, 1):
        if state is not None and outcome.record is not None:
            state.save(outcome.record)
            if count % _CHECKPOINT_EVERY == 0:
                state.checkpoint()
        summary.counts[outcome.status] += 1
        if outcome.status == "failed":
            summary.failures.append(outcome)
        listener(outcome)


def _plan(paths: list[Path], options: Options, rules: RuleSet, state: State) -> Iterator[Outcome | _Task]:
    """For each input: an Outcome when nothing needs doing (or it cannot be done), else a task."""
    fingerprint = options_fingerprint(rules, options.output_format)
    suffix = SUFFIXES[options.output_format]
    output_dir = options.output_dir
    for path, relative in discover(paths, output_dir, options.globs):
        display = str(path)
        try:
            output_rel = relative.with_suffix(suffix).as_posix()
        except ValueError:
            output_rel = relative.as_posix() + suffix
        output = output_dir / output_rel
        key = os.path.abspath(path)
        try:
            status = path.stat()
        except OSError as error:
            yield Outcome(display, "failed", f"cannot read: {error.strerror}")
            continue
        problem = _output_problem(path, output, output_rel, key, state)
        if problem:
            yield Outcome(display, "failed", problem)
            continue
        if status.st_size > options.max_bytes:
            yield Outcome(
                display,
                "failed",
                f"file is {status.st_size:,} bytes, over the {options.max_bytes:,}-byte limit (raise it with --max-size)",
            )
            continue
        record = state.lookup(key, output_rel)
        reason = _reason_to_convert(record, status, output, fingerprint, options)
        if reason is None:
            yield Outcome(display, "unchanged", output=str(output))
            continue
        known = record.digest if reason == "touched" and record is not None else None
        task = _Task(
            display,
            display,
            key,
            str(output),
            output_rel,
            reason,
            status.st_size,
            status.st_mtime_ns,
            known,
            fingerprint,
            options.output_format,
            options.max_bytes,
        )
        if options.dry_run:
            yield _dry_run_outcome(task)
        else:
            yield task


def _output_problem(path: Path, output: Path, output_rel: str, key: str, state: State) -> str | None:
    if output.exists() and os.path.samefile(path, output):
        return f"its output {output} would overwrite the input itself; choose another -o folder"
    other = state.owner_of(output_rel, key)
    if other is not None:
        return f"its output {output} is already the output of {other}; rename one of the two inputs"
    return None


def _reason_to_convert(
    record: Record | None, status: os.stat_result, output: Path, fingerprint: str, options: Options
) -> str | None:
    """Why the input needs converting, "touched" if only its content hash can tell, None if not."""
    if options.force:
        return "forced"
    if record is None:
        return "new"
    if record.options != fingerprint:
        return "options changed"
    if record.merged and not options.dedupe:
        return "duplicate no longer merged"
    if not record.merged:
        try:
            output_status = output.stat()
        except OSError:
            return "output missing"
        if (output_status.st_size, output_status.st_mtime_ns) != (record.output_size, record.output_mtime_ns):
            return "output modified"
    if (status.st_size, status.st_mtime_ns) == (record.size, record.mtime_ns):
        return None
    return "touched"


def _dry_run_outcome(task: _Task) -> Outcome:
    reason = task.reason
    if reason == "touched":
        try:
            data, _ = _read_stable(task)
        except (OSError, _Deferred):
            return Outcome(task.display, "would convert", "changed", task.output)
        if _digest(data) == task.known_digest:
            return Outcome(task.display, "unchanged", output=task.output)
        reason = "changed"
    return Outcome(task.display, "would convert", reason, task.output)


def _execute(items: Iterator[Outcome | _Task], options: Options, rules: RuleSet) -> Iterator[Outcome]:
    """Run tasks (in worker processes when jobs > 1), yielding outcomes in input order."""
    if options.jobs <= 1:
        _init_worker(rules)
        for item in items:
            yield item if isinstance(item, Outcome) else _convert(item)
        return
    context = multiprocessing.get_context("fork") if sys.platform == "linux" else None
    with ProcessPoolExecutor(options.jobs, mp_context=context, initializer=_init_worker, initargs=(rules,)) as pool:
        window: deque[Future | list[Outcome]] = deque()
        for chunk in _chunks(items):
            if any(isinstance(item, _Task) for item in chunk):
                window.append(pool.submit(_convert_chunk, chunk))
            else:
                window.append(chunk)
            while len(window) > options.jobs * _WINDOW_PER_JOB:
                yield from _resolve(window.popleft())
        while window:
            yield from _resolve(window.popleft())


def _chunks(items: Iterator[Outcome | _Task]) -> Iterator[list[Outcome | _Task]]:
    chunk: list[Outcome | _Task] = []
    tasks = 0
    for item in items:
        chunk.append(item)
        tasks += isinstance(item, _Task)
        if tasks >= _CHUNK or len(chunk) >= _CHUNK * 16:
            yield chunk
            chunk, tasks = [], 0
    if chunk:
        yield chunk


def _resolve(entry: Future | list[Outcome]) -> list[Outcome]:
    return entry.result() if isinstance(entry, Future) else entry


_worker_rules: RuleSet = BUILTIN


def _init_worker(rules: RuleSet) -> None:
    global _worker_rules
    _worker_rules = rules


def _convert_chunk(chunk: list[Outcome | _Task]) -> list[Outcome]:
    return [item if isinstance(item, Outcome) else _convert(item) for item in chunk]


def _convert(task: _Task) -> Outcome:
    """Convert one input and write its output; never raises for a bad input."""
    try:
        data, status = _read_stable(task)
    except _Deferred:
        return Outcome(task.display, "deferred", "changed while being read; left for the next run")
    except OSError as error:
        return Outcome(task.display, "failed", f"cannot read: {error.strerror or error}")
    digest = _digest(data)
    if task.known_digest == digest:
        return _done(task, "unchanged", "", status, digest, None, None)
    try:
        article = process(data, task.display, rules=_worker_rules, max_bytes=task.max_bytes)
        text = render(article, task.output_format)
    except InputError as error:
        return Outcome(task.display, "failed", str(error))
    except RecursionError:
        return Outcome(task.display, "failed", "markup nested too deeply to convert")
    except Exception as error:  # a bug must cost one input, not the batch
        return Outcome(task.display, "failed", f"internal error ({type(error).__name__}: {error}); please report it")
    if _stat_key(os.stat(task.path)) != _stat_key(status):
        return Outcome(task.display, "deferred", "changed while being converted; left for the next run")
    try:
        write_atomic(Path(task.output), text.encode("utf-8"))
    except OSError as error:
        return Outcome(task.display, "failed", f"cannot write {task.output}: {error.strerror or error}")
    fetched = article.fetched.timestamp() if article.fetched else None
    outcome = _done(
        task, "converted", task.reason if task.reason != "touched" else "changed", status, digest, article.canonical_url, fetched
    )
    outcome.warnings = article.warnings
    return outcome


def _done(
    task: _Task, status_name: str, reason: str, status: os.stat_result, digest: str, url: str | None, fetched: float | None
) -> Outcome:
    try:
        output_status = os.stat(task.output)
    except OSError:
        return Outcome(task.display, "failed", f"output {task.output} vanished after writing")
    record = Record(
        task.key,
        status.st_size,
        status.st_mtime_ns,
        digest,
        task.fingerprint,
        task.output_rel,
        output_status.st_size,
        output_status.st_mtime_ns,
        url,
        fetched,
        False,
    )
    return Outcome(task.display, status_name, reason, task.output, record=record)


def _read_stable(task: _Task) -> tuple[bytes, os.stat_result]:
    """The input's bytes, unless it changes (or changed since planning) while being read."""
    with open(task.path, "rb") as handle:
        before = os.fstat(handle.fileno())
        data = handle.read(task.max_bytes + 1)
        after = os.fstat(handle.fileno())
    if _stat_key(before) != _stat_key(after) or len(data) != after.st_size:
        raise _Deferred
    if _stat_key(before) != (task.size, task.mtime_ns):
        raise _Deferred
    return data, after


def _stat_key(status: os.stat_result) -> tuple[int, int]:
    return status.st_size, status.st_mtime_ns


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _merge_duplicates(state: State, output_dir: Path, suffix: str) -> int:
    """Keep one output per canonical URL, the latest fetch's; return how many were newly merged."""
    merged = 0
    for url in state.duplicate_urls(suffix):
        records = [r for r in state.with_url(url, suffix) if os.path.exists(r.input)]
        if len(records) < 2:
            continue
        records.sort(key=lambda r: (r.fetched if r.fetched is not None else float("-inf"), r.input), reverse=True)
        for loser in records[1:]:
            if loser.merged:
                continue
            with contextlib.suppress(FileNotFoundError):
                (output_dir / loser.output).unlink()
            state.save(replace(loser, merged=True))
            merged += 1
        if records[0].merged:
            state.forget(records[0])
    return merged
