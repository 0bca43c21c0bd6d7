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
import stat
import sys
import time
from collections import Counter, deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import import_module, resources
from itertools import chain
from pathlib import Path

from . import __version__
from .article import Article, InputError
from .limits import (
    DEFAULT_MAX_BYTES,
    DEFAULT_SETTLE_SECONDS,
    DEFAULT_TIMEOUT_SECONDS,
    TimedOut,
    over_size_limit,
    over_time_limit,
    within_time_limit,
)
from .paths import OUTPUT_STARTS, SUFFIXES, Found, discover, display_path, is_inside, output_names
from .rules import BUILTIN, RuleSet
from .write import Record, State, StateError, output_key, output_lock, read_at_most, sweep_temporary_files, write_atomic

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
    jobs: int = 1
    force: bool = False
    dedupe: bool = False
    dry_run: bool = False
    globs: tuple[str, ...] = ()
    max_bytes: int = DEFAULT_MAX_BYTES
    wait: bool = True
    settle: float = DEFAULT_SETTLE_SECONDS
    timeout: float = DEFAULT_TIMEOUT_SECONDS


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
    """What a run did, for the summary line, the table and `--report`."""

    counts: Counter = field(default_factory=Counter)
    failures: list[Outcome] = field(default_factory=list)
    deferred: list[Outcome] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)
    merged: int = 0
    seconds: float = 0.0
    dry_run: bool = False
    state_error: str | None = None

    def as_dict(self) -> dict:
        """The run as `--report` writes it."""
        return {
            "version": __version__,
            "dry_run": self.dry_run,
            "converted": self.counts["converted"],
            "would_convert": self.counts["would convert"],
            "unchanged": self.counts["unchanged"],
            "failed": self.counts["failed"],
            "deferred": self.counts["deferred"],
            "merged": self.merged,
            "seconds": round(self.seconds, 3),
            "state_error": self.state_error,
            "failures": [{"input": f.input, "reason": f.reason} for f in self.failures],
            "deferred_inputs": [{"input": d.input, "reason": d.reason} for d in self.deferred],
            "warnings": [{"input": name, "warning": warning} for name, warning in self.warnings],
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
    settle: float
    timeout: float


# Inputs handed to a worker together, in input order: conversions and known outcomes.
_Chunk = list[Outcome | _Task]


class _Deferred(Exception):
    """The input changed while it was read: the scraper is still writing it."""


def options_fingerprint(rules: RuleSet, output_format: str) -> str:
    """Changes whenever the output for an unchanged input could change: the code, the format, the rules."""
    source = json.dumps([_code_digest(), output_format, rules.digest_source])
    return hashlib.sha256(source.encode()).hexdigest()[:16]


@cache
def _code_digest() -> str:
    """feedclean's version and the digest of its own files, so a changed install converts again."""
    digest = hashlib.sha256(__version__.encode())
    package = resources.files(__package__)
    for name in sorted(entry.name for entry in package.iterdir() if entry.name.endswith(".py")):
        digest.update(package.joinpath(name).read_bytes())
    digest.update(package.joinpath("rules/builtin.toml").read_bytes())
    return digest.hexdigest()


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
    _inside.cache_clear()  # folders may have changed since a previous run in this process
    summary = Summary(dry_run=options.dry_run)
    if options.dry_run:
        state = State(options.output_dir, read_only=True)
        summary.state_error = state.problem
        _consume(_plan(paths, options, rules, state), summary, listener, None)
        state.close()
    else:
        with output_lock(options.output_dir, options.wait, on_wait) as lock_descriptor:
            state = State(options.output_dir)
            try:
                outcomes = _execute(_plan(paths, options, rules, state), options, rules, lock_descriptor)
                _consume(outcomes, summary, listener, state)
                if options.dedupe and summary.state_error is None:
                    _dedupe(state, options, rules, summary, listener)
            finally:
                _close_state(state, summary)
    summary.seconds = time.monotonic() - started
    return summary


def _dedupe(state: State, options: Options, rules: RuleSet, summary: Summary, listener: Callable[[Outcome], None]) -> None:
    """Merge duplicates after the conversions; a state that fails here fails as it would there."""
    try:
        summary.merged, restore = _merge_duplicates(state, options.output_dir, options.output_format)
    except StateError as error:
        summary.state_error = str(error)
        return
    _consume((_restore(record, options, rules) for record in restore), summary, listener, state)


def _consume(outcomes: Iterable[Outcome], summary: Summary, listener: Callable[[Outcome], None], state: State | None) -> None:
    saved = 0
    for outcome in outcomes:
        if state is not None and outcome.record is not None and summary.state_error is None:
            try:
                state.save(outcome.record)
                saved += 1
                if saved % _CHECKPOINT_EVERY == 0:
                    state.checkpoint()
            except StateError as error:
                summary.state_error = str(error)
        summary.counts[outcome.status] += 1
        if outcome.status == "failed":
            summary.failures.append(outcome)
        elif outcome.status == "deferred":
            summary.deferred.append(outcome)
        summary.warnings.extend((outcome.input, warning) for warning in outcome.warnings)
        listener(outcome)


def _close_state(state: State, summary: Summary) -> None:
    try:
        state.close()
    except StateError as error:
        summary.state_error = summary.state_error or str(error)


def _plan(paths: list[Path], options: Options, rules: RuleSet, state: State) -> Iterator[Outcome | _Task]:
    """For each input: an Outcome when nothing needs doing (or it cannot be done), else a task."""
    fingerprint = options_fingerprint(rules, options.output_format)
    suffix = SUFFIXES[options.output_format]
    output_dir = os.fspath(options.output_dir)
    # Outputs two inputs may want, and the first input. Inputs under one root collide only
    # within a folder, and only when they share a stem; under several roots, any two may.
    claimed: dict[str, str] = {}
    several_roots = len(paths) > 1
    seen: set[str] = set()  # under several roots, one file can be found twice (a folder, and a file in it)
    check_owners = not state.empty
    folder = None
    for found in discover(paths, options.output_dir, options.globs):
        display = display_path(found.path)
        if found.problem:
            yield Outcome(display, "failed", found.problem)
            continue
        if several_roots:
            if found.key in seen:
                continue
            seen.add(found.key)
        output_rel, folder_rel = output_names(found.relative, suffix)
        output = f"{output_dir}{os.sep}{output_rel}"
        if not several_roots and found.relative.rpartition("/")[0] != folder:
            folder, claimed = found.relative.rpartition("/")[0], {}
        if (several_roots or found.shares_stem) and claimed.setdefault(output_rel, found.key) != found.key:
            yield Outcome(display, "failed", f"its output {display_path(output)} is also another input's; rename one of them")
            continue
        try:
            status = os.stat(found.path)
        except OSError as error:
            yield Outcome(display, "failed", f"cannot read: {error.strerror or error}")
            continue
        item = _plan_one(found, display, status, output, output_rel, folder_rel, fingerprint, options, state, check_owners)
        yield _dry_run_outcome(item) if options.dry_run and isinstance(item, _Task) else item


def _plan_one(
    found: Found,
    display: str,
    status: os.stat_result,
    output: str,
    output_rel: str,
    folder_rel: str,
    fingerprint: str,
    options: Options,
    state: State,
    check_owners: bool,
) -> Outcome | _Task:
    output_dir = os.fspath(options.output_dir)
    if not stat.S_ISREG(status.st_mode):
        return Outcome(display, "failed", "not a regular file (a folder, FIFO, device or socket)")
    if status.st_size > options.max_bytes:
        return Outcome(display, "failed", over_size_limit(options.max_bytes, status.st_size))
    output_status = _stat_or_none(output)
    if output_status is not None and (output_status.st_dev, output_status.st_ino) == (status.st_dev, status.st_ino):
        return Outcome(
            display, "failed", f"its output {display_path(output)} would overwrite the input itself; choose another -o"
        )
    if output_status is not None and not stat.S_ISREG(output_status.st_mode):
        return Outcome(display, "failed", f"its output {display_path(output)} is not a regular file; move it away")
    record = state.lookup(found.key, options.output_format)
    if record is None or record.output not in (output_rel, folder_rel):
        if output_status is not None and not _written_by_feedclean(output, options.output_format):
            foreign = f"its output {display_path(output)} exists and was not written by feedclean"
            return Outcome(display, "failed", f"{foreign}; not overwritten (move it, or choose another -o)")
        other = state.owner_of(output_rel, found.key) if check_owners else None
        if other is not None:
            return Outcome(display, "failed", f"its output {display_path(output)} is already the output of {display_path(other)}")
    known_status = output_status if record is not None and record.output == output_rel else None
    reason = _reason_to_convert(record, status, known_status, fingerprint, options)
    if reason is None:
        return Outcome(display, "unchanged", output=display_path(f"{output_dir}{os.sep}{record.output}"))
    return _Task(
        found.path, display, found.key, output_dir, output_rel, folder_rel, reason, status.st_size, status.st_mtime_ns,
        record if reason == "touched" else None, fingerprint, options.output_format, options.max_bytes,
        options.settle, options.timeout,
    )  # fmt: skip


def _written_by_feedclean(path: str, output_format: str) -> bool:
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


def _stat_or_none(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:
        return None


def _reason_to_convert(
    record: Record | None, status: os.stat_result, output_status: os.stat_result | None, fingerprint: str, options: Options
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
        key = output_key(f"{os.fspath(options.output_dir)}{os.sep}{record.output}", output_status)
        if key is None:
            return "output missing"
        if key != (record.output_size, record.output_mtime_ns):
            return "output modified"
    if (status.st_size, status.st_mtime_ns) == (record.size, record.mtime_ns):
        return None
    return "touched"


def _dry_run_outcome(task: _Task) -> Outcome:
    """What a run would do with the input, judged by reading it now: a dry run never waits out --settle."""
    try:
        data: bytes | None = _read_stable(replace(task, settle=0.0))[0]
    except (OSError, _Deferred):
        data = None
    if task.reason == "touched" and data is not None and _digest(data) == task.known.digest:
        return Outcome(task.display, "unchanged", output=_shown_output(task, task.known.output == task.folder_rel))
    reason = "changed" if task.reason == "touched" else task.reason
    return Outcome(task.display, "would convert", reason, _shown_output(task, data is not None and _is_feed(data)))


def _shown_output(task: _Task, feed: bool) -> str:
    """The output a dry run names: a feed's folder (its items' names are known only once converted), else the file."""
    return display_path(os.path.join(task.output_dir, task.folder_rel if feed else task.output_rel))


def _is_feed(data: bytes) -> bool:
    from .feeds import looks_like_feed
    from .read import decode_text

    try:
        text, _ = decode_text(data)
    except InputError:
        return False
    return looks_like_feed(text)


def _execute(items: Iterator[Outcome | _Task], options: Options, rules: RuleSet, lock_descriptor: int) -> Iterator[Outcome]:
    """Run tasks (in worker processes when jobs > 1), yielding outcomes in input order."""
    if options.jobs <= 1:
        for item in items:
            yield item if isinstance(item, Outcome) else _convert(item, rules)
        return
    chunks = _chunks(items)
    head, jobs = yield from _size_pool(chunks, options.jobs)
    pending = chain(head, chunks)
    workers = _Workers(jobs, rules, lock_descriptor, options.output_dir)
    window: deque[tuple[tuple[Future, int] | None, _Chunk]] = deque()
    try:
        for chunk in pending:
            window.append((workers.submit(chunk) if _has_tasks(chunk) else None, chunk))
            while len(window) > jobs * _WINDOW_PER_JOB:
                yield from workers.resolve(*window.popleft())
        while window:
            yield from workers.resolve(*window.popleft())
    finally:
        workers.close()


def _size_pool(chunks: Iterator[_Chunk], jobs: int) -> Generator[Outcome, None, tuple[list[_Chunk], int]]:
    """Look ahead to start no more workers than there is work for.

    A cron run that finds three new dumps should not fork a worker per CPU,
    and `-j 1000` over nine files should not fork a thousand. Outcomes ahead
    of the first conversion are yielded at once; then up to `jobs` chunks
    with conversions are read ahead (fewer if the input ends first, or if a
    long run of unchanged inputs would hold too many outcomes). Returns the
    chunks read ahead and the number of workers they need: all of `jobs`
    unless the input ended. One worker at least, so a crash in a C library
    costs one input whatever the size of the run.
    """
    head: list[_Chunk] = []
    busy = 0
    for chunk in chunks:
        if not head and not _has_tasks(chunk):
            yield from (item for item in chunk if isinstance(item, Outcome))
            continue
        head.append(chunk)
        busy += _has_tasks(chunk)
        if busy >= jobs or len(head) > jobs * _WINDOW_PER_JOB:
            return head, jobs
    return head, max(busy, 1)


def _has_tasks(chunk: _Chunk) -> bool:
    return any(isinstance(item, _Task) for item in chunk)


class _Workers:
    """The worker processes, replaced when one dies (the OOM killer, a crash in a C library).

    A chunk whose worker died runs again in the new workers; a chunk that
    kills its worker twice is run one input per process, so only the input
    that kills its process fails. Futures remember which pool they went to,
    so a failure of a pool already replaced does not replace the new one.
    A worker that died while writing leaves a temporary file: swept at the end.
    """

    def __init__(self, jobs: int, rules: RuleSet, lock_descriptor: int, output_dir: Path) -> None:
        self._jobs = jobs
        self._output_dir = output_dir
        self._setup = (rules, os.getpid(), lock_descriptor)
        self._context = multiprocessing.get_context("fork") if sys.platform == "linux" else None
        self._generation = 0
        self._lost_alone = False
        self._pool = self._new_pool(jobs)

    def _new_pool(self, jobs: int) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(jobs, mp_context=self._context, initializer=_init_worker, initargs=self._setup)

    def submit(self, chunk: _Chunk) -> tuple[Future, int]:
        import_module(f"{__package__}.pipeline")  # before the workers fork, so they share it
        try:
            return self._pool.submit(_convert_chunk, chunk), self._generation
        except BrokenProcessPool:
            self._replace_pool()
            return self._pool.submit(_convert_chunk, chunk), self._generation

    def resolve(self, pending: tuple[Future, int] | None, chunk: _Chunk) -> list[Outcome]:
        if pending is None:
            return chunk
        future, generation = pending
        for attempt in range(2):
            try:
                return future.result()
            except (BrokenProcessPool, CancelledError):
                if generation == self._generation:
                    self._replace_pool()
            if attempt == 0:
                future, generation = self.submit(chunk)
        return [item if isinstance(item, Outcome) else self._convert_alone(item) for item in chunk]

    def _replace_pool(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._generation += 1
        self._pool = self._new_pool(self._jobs)

    def _convert_alone(self, task: _Task) -> Outcome:
        pool = self._new_pool(1)
        try:
            return pool.submit(_convert, task).result()
        except (BrokenProcessPool, CancelledError):
            self._lost_alone = True
            return Outcome(task.display, "failed", "the process converting it died (out of memory, or a crash in a library)")
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._generation or self._lost_alone:
            sweep_temporary_files(self._output_dir)


def _chunks(items: Iterator[Outcome | _Task]) -> Iterator[_Chunk]:
    chunk: _Chunk = []
    tasks = 0
    for item in items:
        chunk.append(item)
        tasks += isinstance(item, _Task)
        if tasks >= _CHUNK or len(chunk) >= _CHUNK * 16:
            yield chunk
            chunk, tasks = [], 0
    if chunk:
        yield chunk


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


def _convert_chunk(chunk: _Chunk) -> list[Outcome]:
    return [item if isinstance(item, Outcome) else _convert(item) for item in chunk]


def _convert(task: _Task, rules: RuleSet | None = None) -> Outcome:
    """Convert one input and write its output(s); never raises for a bad input."""
    from .pipeline import process_all  # the conversion stack loads only when a run converts something

    try:
        data, status = _read_stable(task)
    except _Deferred:
        return Outcome(task.display, "deferred", "changed while being read; left for the next run")
    except FileNotFoundError:
        return Outcome(task.display, "deferred", "gone before it could be read (renamed by the scraper?)")
    except OSError as error:
        return Outcome(task.display, "failed", f"cannot read: {error.strerror or error}")
    digest = _digest(data)
    if task.known is not None and task.known.digest == digest:
        record = replace(task.known, size=status.st_size, mtime_ns=status.st_mtime_ns)
        return Outcome(
            task.display, "unchanged", output=display_path(os.path.join(task.output_dir, record.output)), record=record
        )
    try:
        articles = within_time_limit(
            task.timeout, process_all, data, task.display, rules=rules or _worker_rules, max_bytes=task.max_bytes
        )
        outputs = _outputs(task, articles)
    except (InputError, RecursionError, TimedOut) as error:
        problem = _problem(error, task.timeout)
    except Exception as error:  # a bug must cost one input, not the batch
        problem = f"internal error ({type(error).__name__}: {error}); please report it"
    else:
        problem = None
    if _stat_key(_stat_or_none(task.path)) != _stat_key(status):
        return Outcome(task.display, "deferred", "changed (or went) while being converted; left for the next run")
    if problem is not None:
        return Outcome(task.display, "failed", problem)
    return _write_outputs(task, articles, outputs, status, digest)


def _problem(error: Exception, timeout: float) -> str:
    if isinstance(error, RecursionError):
        return "markup nested too deeply to convert"
    if isinstance(error, TimedOut):
        return over_time_limit(timeout)
    return str(error)


def _write_outputs(
    task: _Task, articles: list[Article], outputs: list[tuple[str, str]], status: os.stat_result, digest: str
) -> Outcome:
    problem = _unwritable([path for path, _ in outputs], task, feed=articles[0].from_feed)
    if problem is not None:
        return Outcome(task.display, "failed", problem)
    for path, text in outputs:
        try:
            written = write_atomic(path, text.encode("utf-8"))
        except OSError as error:
            return Outcome(task.display, "failed", f"cannot write {display_path(path)}: {error.strerror or error}")
    reason = task.reason if task.reason != "touched" else "changed"
    outcome = _done(task, reason, status, digest, None if articles[0].from_feed else articles[0], written)
    outcome.warnings = [warning for article in articles for warning in article.warnings]
    return outcome


def _unwritable(paths: list[str], task: _Task, feed: bool) -> str | None:
    """Why some output cannot be written, checked for all before any is, so a feed is written
    whole or not at all. A dump's output was checked when planned; a feed's items are named by
    their ids only now, and a file there that feedclean did not write is never overwritten."""
    for path in paths:
        if not _inside(task.output_dir, os.path.dirname(path)):
            return f"its output {display_path(path)} would land outside {display_path(task.output_dir)} (a symlink?)"
        if feed and os.path.lexists(path) and not _written_by_feedclean(path, task.output_format):
            return f"its item output {display_path(path)} exists and was not written by feedclean; not overwritten"
    return None


@cache
def _inside(output_dir: str, folder: str) -> bool:
    """Whether `folder` really is inside `output_dir`, symlinks followed. An output's own name
    needs no check: the rename that writes it replaces a symlink, it never follows one."""
    return is_inside(folder, output_dir)


def _outputs(task: _Task, articles: list[Article]) -> list[tuple[str, str]]:
    """Where each article goes: a dump's to its output file, a feed's items into a folder by id.

    Items with the same id (the same link) are told apart by their content,
    not by their order, so a feed that reorders its items renames nothing.
    """
    from .render import render

    if len(articles) == 1 and not articles[0].from_feed:
        return [(os.path.join(task.output_dir, task.output_rel), render(articles[0], task.output_format))]
    folder = os.path.join(task.output_dir, task.folder_rel)
    suffix = SUFFIXES[task.output_format]
    counts = Counter(article.id for article in articles)
    outputs = []
    for article in articles:
        text = render(article, task.output_format)
        name = article.id if counts[article.id] == 1 else f"{article.id}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"
        outputs.append((os.path.join(folder, f"{name}{suffix}"), text))
    return outputs


def _done(
    task: _Task, reason: str, status: os.stat_result, digest: str, article: Article | None, written: os.stat_result
) -> Outcome:
    """The outcome of a conversion, with the record the state keeps of it; `article` is None for a feed."""
    output_rel = task.folder_rel if article is None else task.output_rel
    output = os.path.join(task.output_dir, output_rel)
    key = output_key(output, None if article is None else written)
    if key is None:
        return Outcome(task.display, "failed", f"output {display_path(output)} vanished after writing")
    url = article.canonical_url if article is not None else None
    fetched = article.fetched.timestamp() if article is not None and article.fetched else None
    record = Record(
        task.key, task.output_format, status.st_size, status.st_mtime_ns, digest, task.fingerprint, output_rel,
        key[0], key[1], url, fetched, False,
    )  # fmt: skip
    return Outcome(task.display, "converted", reason, display_path(output), record=record)


def _read_stable(task: _Task) -> tuple[bytes, os.stat_result]:
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
    if _stat_key(before) != _stat_key(after) or len(data) != after.st_size:
        raise _Deferred
    if _stat_key(before) != (task.size, task.mtime_ns):
        raise _Deferred
    return data, after


def _stat_key(status: os.stat_result | None) -> tuple[int, int]:
    return (status.st_size, status.st_mtime_ns) if status is not None else (-1, -1)


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _merge_duplicates(state: State, output_dir: Path, output_format: str) -> tuple[int, list[Record]]:
    """Keep one output per canonical URL, the latest fetch's; return how many were newly merged,
    and the records whose output must come back because the input that won is gone."""
    merged = 0
    restore = []
    for url in state.duplicate_urls(output_format):
        records = state.with_url(url, output_format)
        alive = [record for record in records if os.path.exists(record.input)]
        for gone in (record for record in records if record not in alive):
            if not gone.merged:
                with contextlib.suppress(OSError):
                    (output_dir / gone.output).unlink()
            state.forget(gone)
        if not alive:
            continue
        alive.sort(key=lambda r: (r.fetched if r.fetched is not None else float("-inf"), r.input), reverse=True)
        for loser in alive[1:]:
            if loser.merged:
                continue
            with contextlib.suppress(OSError):
                (output_dir / loser.output).unlink()
            state.save(replace(loser, merged=True))
            merged += 1
        if alive[0].merged:
            restore.append(alive[0])
    return merged, restore


def _restore(record: Record, options: Options, rules: RuleSet) -> Outcome:
    """Convert a merged duplicate again, now that the input that won is gone."""
    try:
        status = os.stat(record.input)
    except OSError as error:
        return Outcome(display_path(record.input), "failed", f"cannot read: {error.strerror or error}")
    return _convert(_Task(
        record.input, display_path(record.input), record.input, os.fspath(options.output_dir), record.output,
        record.output, "restored (the duplicate that won is gone)", status.st_size, status.st_mtime_ns, None,
        options_fingerprint(rules, options.output_format), options.output_format, options.max_bytes, 0.0, options.timeout,
    ), rules)  # fmt: skip
