"""The worker processes of a run: conversions in parallel, outcomes back in input order.

A worker that dies (the OOM killer, a crash in a C library) is replaced, and
only the input that kills its process fails. Workers die with their run.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
from collections import deque
from collections.abc import Generator, Iterator
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from importlib import import_module
from itertools import chain
from pathlib import Path

from .conversion import convert
from .rules import BUILTIN, RuleSet
from .tasks import Chunk, Options, Outcome, Task
from .write import sweep_temporary_files

# Tasks handed to a worker at once, and chunks kept in flight per worker.
_CHUNK = 16
_WINDOW_PER_JOB = 4
# prctl(2) option: the signal a process gets when its parent dies (Linux).
_PR_SET_PDEATHSIG = 1


def execute(items: Iterator[Outcome | Task], options: Options, rules: RuleSet, lock_descriptor: int) -> Iterator[Outcome]:
    """Run tasks (in worker processes when jobs > 1), yielding outcomes in input order."""
    if options.jobs <= 1:
        for item in items:
            yield item if isinstance(item, Outcome) else convert(item, rules)
        return
    chunks = _chunks(items)
    head, jobs = yield from _size_pool(chunks, options.jobs)
    pending = chain(head, chunks)
    workers = _Workers(jobs, rules, lock_descriptor, options.output_dir)
    window: deque[tuple[tuple[Future, int] | None, Chunk]] = deque()
    try:
        for chunk in pending:
            window.append((workers.submit(chunk) if _has_tasks(chunk) else None, chunk))
            while len(window) > jobs * _WINDOW_PER_JOB:
                yield from workers.resolve(*window.popleft())
        while window:
            yield from workers.resolve(*window.popleft())
    finally:
        workers.close()


def _size_pool(chunks: Iterator[Chunk], jobs: int) -> Generator[Outcome, None, tuple[list[Chunk], int]]:
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
    head: list[Chunk] = []
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


def _has_tasks(chunk: Chunk) -> bool:
    return any(isinstance(item, Task) for item in chunk)


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

    def submit(self, chunk: Chunk) -> tuple[Future, int]:
        import_module(f"{__package__}.pipeline")  # before the workers fork, so they share it
        try:
            return self._pool.submit(_convert_chunk, chunk), self._generation
        except BrokenProcessPool:
            self._replace_pool()
            return self._pool.submit(_convert_chunk, chunk), self._generation

    def resolve(self, pending: tuple[Future, int] | None, chunk: Chunk) -> list[Outcome]:
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

    def _convert_alone(self, task: Task) -> Outcome:
        pool = self._new_pool(1)
        try:
            return pool.submit(_convert_in_worker, task).result()
        except (BrokenProcessPool, CancelledError):
            self._lost_alone = True
            return Outcome(task.display, "failed", "the process converting it died (out of memory, or a crash in a library)")
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._generation or self._lost_alone:
            sweep_temporary_files(self._output_dir)


def _chunks(items: Iterator[Outcome | Task]) -> Iterator[Chunk]:
    chunk: Chunk = []
    tasks = 0
    for item in items:
        chunk.append(item)
        tasks += isinstance(item, Task)
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


def _convert_chunk(chunk: Chunk) -> list[Outcome]:
    return [item if isinstance(item, Outcome) else convert(item, _worker_rules) for item in chunk]


def _convert_in_worker(task: Task) -> Outcome:
    return convert(task, _worker_rules)
