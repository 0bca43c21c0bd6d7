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
import signal
import sys
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from fnmatch import fnmatch
from pathlib import Path, PurePath

from . import __version__
from .article import Article, InputError
from .pipeline import DEFAULT_MAX_BYTES, process_all
from .render import SUFFIXES, render
from .rules import BUILTIN, RuleSet
from .write import Record, State, output_lock, write_atomic

# Tasks handed to a worker at once, and chunks kept in flight per worker.
_CHUNK = 16
_WINDOW_PER_JOB = 4
# prctl(2) option: the signal a process gets when its parent dies (Linux).
_PR_SET_PDEATHSIG = 1
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
    output_dir: str
    output_rel: str
    folder_rel: str
    reason: str
    size: int
    mtime_ns: int
    known: Record | None
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
        with output_lock(options.output_dir, options.wait, on_wait) as lock_descriptor:
            state = State(options.output_dir)
            try:
                outcomes = _execute(_plan(paths, options, rules, state), options, rules, lock_descriptor)
                _consume(outcomes, summary, listener, state)
                if options.dedupe:
                    summary.merged = _merge_duplicates(state, options.output_dir, options.output_format)
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
    claimed: set[int] = set()  # hashes of this run's output names: small, so memory stays flat
    for path, relative in discover(paths, output_dir, options.globs):
        display = str(path)
        output_rel, folder_rel = _output_names(relative, suffix)
        output = output_dir / output_rel
        key = os.path.abspath(path)
        if hash(output_rel) in claimed:
            yield Outcome(display, "failed", f"its output {output} is also another input's in this run; rename one of them")
            continue
        claimed.add(hash(output_rel))
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
        record = state.lookup(key, options.output_format)
        reason = _reason_to_convert(record, status, output_dir, fingerprint, options)
        if reason is None:
            yield Outcome(display, "unchanged", output=str(output_dir / record.output))
            continue
        touched = reason == "touched" and record is not None
        task = _Task(
            display,
            display,
            key,
            str(output_dir),
            output_rel,
            folder_rel,
            reason,
            status.st_size,
            status.st_mtime_ns,
            record if touched else None,
            fingerprint,
            options.output_format,
            options.max_bytes,
        )
        if options.dry_run:
            yield _dry_run_outcome(task)
        else:
            yield task


def _output_names(relative: PurePath, suffix: str) -> tuple[str, str]:
    """The output file for a dump (IN/a/b.txt → a/b.md) and the folder for a feed's items (a/b/)."""
    stem = relative.with_suffix("") if relative.suffix else relative
    return f"{stem.as_posix()}{suffix}", f"{stem.as_posix()}/"


def _output_problem(path: Path, output: Path, output_rel: str, key: str, state: State) -> str | None:
    if output.exists() and os.path.samefile(path, output):
        return f"its output {output} would overwrite the input itself; choose another -o folder"
    other = state.owner_of(output_rel, key)
    if other is not None:
        return f"its output {output} is already the output of {other}; rename one of the two inputs"
    return None


def _reason_to_convert(
    record: Record | None, status: os.stat_result, output_dir: Path, fingerprint: str, options: Options
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
            output_key = _output_key(output_dir / record.output)
        except OSError:
            return "output missing"
        if output_key != (record.output_size, record.output_mtime_ns):
            return "output modified"
    if (status.st_size, status.st_mtime_ns) == (record.size, record.mtime_ns):
        return None
    return "touched"


def _output_key(output: Path) -> tuple[int, int]:
    """Size and mtime of an output file, or item count and mtime of a feed's output folder."""
    status = output.stat()
    if output.is_dir():
        return sum(1 for entry in os.scandir(output) if entry.is_file()), status.st_mtime_ns
    return status.st_size, status.st_mtime_ns


def _dry_run_outcome(task: _Task) -> Outcome:
    reason = task.reason
    if reason == "touched":
        try:
            data, _ = _read_stable(task)
        except (OSError, _Deferred):
            return Outcome(task.display, "would convert", "changed", str(Path(task.output_dir, task.output_rel)))
        if _digest(data) == task.known.digest:
            return Outcome(task.display, "unchanged", output=str(Path(task.output_dir, task.output_rel)))
        reason = "changed"
    return Outcome(task.display, "would convert", reason, str(Path(task.output_dir, task.output_rel)))


def _execute(items: Iterator[Outcome | _Task], options: Options, rules: RuleSet, lock_descriptor: int) -> Iterator[Outcome]:
    """Run tasks (in worker processes when jobs > 1), yielding outcomes in input order."""
    global _worker_rules
    if options.jobs <= 1:
        _worker_rules = rules
        for item in items:
            yield item if isinstance(item, Outcome) else _convert(item)
        return
    context = multiprocessing.get_context("fork") if sys.platform == "linux" else None
    setup = (rules, os.getpid(), lock_descriptor)
    with ProcessPoolExecutor(options.jobs, mp_context=context, initializer=_init_worker, initargs=setup) as pool:
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


def _init_worker(rules: RuleSet, parent: int, lock_descriptor: int) -> None:
    """Set a worker up: its rules, and no way to outlive the run.

    A forked worker shares the run's lock; if the run is killed (cron's
    timeout, SIGKILL) an orphaned worker would keep the output folder locked
    for ever. So the worker drops its copy of the lock and asks the kernel to
    kill it when its parent dies.
    """
    global _worker_rules
    _worker_rules = rules
    if sys.platform == "linux":
        with contextlib.suppress(OSError):
            os.close(lock_descriptor)
        _die_with_parent(parent)


def _die_with_parent(parent: int) -> None:
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:
        os._exit(1)


def _convert_chunk(chunk: list[Outcome | _Task]) -> list[Outcome]:
    return [item if isinstance(item, Outcome) else _convert(item) for item in chunk]


def _convert(task: _Task) -> Outcome:
    """Convert one input and write its output(s); never raises for a bad input."""
    try:
        data, status = _read_stable(task)
    except _Deferred:
        return Outcome(task.display, "deferred", "changed while being read; left for the next run")
    except OSError as error:
        return Outcome(task.display, "failed", f"cannot read: {error.strerror or error}")
    digest = _digest(data)
    if task.known is not None and task.known.digest == digest:
        record = replace(task.known, size=status.st_size, mtime_ns=status.st_mtime_ns)
        return Outcome(task.display, "unchanged", output=str(Path(task.output_dir, record.output)), record=record)
    try:
        articles = process_all(data, task.display, rules=_worker_rules, max_bytes=task.max_bytes)
        outputs = _outputs(task, articles)
    except InputError as error:
        return Outcome(task.display, "failed", str(error))
    except RecursionError:
        return Outcome(task.display, "failed", "markup nested too deeply to convert")
    except Exception as error:  # a bug must cost one input, not the batch
        return Outcome(task.display, "failed", f"internal error ({type(error).__name__}: {error}); please report it")
    if _stat_key(os.stat(task.path)) != _stat_key(status):
        return Outcome(task.display, "deferred", "changed while being converted; left for the next run")
    root = os.path.realpath(task.output_dir)
    try:
        for path, text in outputs:
            if not os.path.realpath(path).startswith(root + os.sep):
                return Outcome(task.display, "failed", f"its output {path} would land outside {task.output_dir} (a symlink?)")
            write_atomic(path, text.encode("utf-8"))
    except OSError as error:
        return Outcome(task.display, "failed", f"cannot write {error.filename}: {error.strerror or error}")
    reason = task.reason if task.reason != "touched" else "changed"
    feed = articles[0].from_feed
    outcome = _done(task, reason, status, digest, None if feed else articles[0], feed=feed)
    outcome.warnings = [warning for article in articles for warning in article.warnings]
    return outcome


def _outputs(task: _Task, articles: list[Article]) -> list[tuple[Path, str]]:
    """Where each article goes: a dump's to its output file, a feed's items into a folder by id."""
    if len(articles) == 1 and not articles[0].from_feed:
        return [(Path(task.output_dir, task.output_rel), render(articles[0], task.output_format))]
    folder = Path(task.output_dir, task.folder_rel)
    suffix = SUFFIXES[task.output_format]
    seen: Counter = Counter()
    outputs = []
    for article in articles:
        seen[article.id] += 1
        name = article.id if seen[article.id] == 1 else f"{article.id}-{seen[article.id]}"
        outputs.append((folder / f"{name}{suffix}", render(article, task.output_format)))
    return outputs


def _done(task: _Task, reason: str, status: os.stat_result, digest: str, article: Article | None, feed: bool) -> Outcome:
    """The outcome of a conversion, with the record the state keeps of it."""
    output_rel = task.folder_rel if feed else task.output_rel
    output = Path(task.output_dir, output_rel)
    try:
        output_size, output_mtime_ns = _output_key(output)
    except OSError:
        return Outcome(task.display, "failed", f"output {output} vanished after writing")
    url = article.canonical_url if article is not None else None
    fetched = article.fetched.timestamp() if article is not None and article.fetched else None
    record = Record(
        task.key, task.output_format, status.st_size, status.st_mtime_ns, digest, task.fingerprint, output_rel,
        output_size, output_mtime_ns, url, fetched, False,
    )  # fmt: skip
    return Outcome(task.display, "converted", reason, str(output), record=record)


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


def _merge_duplicates(state: State, output_dir: Path, output_format: str) -> int:
    """Keep one output per canonical URL, the latest fetch's; return how many were newly merged."""
    merged = 0
    for url in state.duplicate_urls(output_format):
        records = [r for r in state.with_url(url, output_format) if os.path.exists(r.input)]
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
