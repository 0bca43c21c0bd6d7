"""The worker processes of a run: conversions in parallel, within --timeout, outcomes back in input order.

Every conversion runs in a worker process, -j 1 included: a time limit that must
hold inside C code (libxml2 spent minutes on one element with 100,000 attributes)
needs a process that can be killed. The run forks workers as work needs them (a
cron run that finds three new dumps forks one, whatever -j says) and keeps them
for the rest of the run. A worker converts a batch of tasks and answers with all
their outcomes at once; meanwhile it shows, in memory it shares with the run,
which task it is on and until when that task may run. So the run wakes once a
batch, not once a task, and still knows where each worker is:

- a task past its time has its worker killed and fails alone; the rest of its
  batch goes to another worker (tasks it had finished are done again: their
  outputs are there already, so nothing is written twice);
- a worker that dies (the OOM killer, a crash in a C library) is replaced: the
  task it died on is tried once more in a worker of its own, so only a task
  that kills its process twice fails, and the rest of its batch goes on.

A killed worker may leave a temporary file: those of the run's lost workers are
swept when the pool closes. Workers die with their run (prctl PDEATHSIG on Linux).

Batches go both ways as plain values (Task.message, Outcome.message) in marshal's format:
the worker is a fork of the run, so both sides are the same Python, and pickling the
classes cost more per input than writing its output.
"""

from __future__ import annotations

import contextlib
import marshal
import math
import multiprocessing
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import import_module
from multiprocessing.connection import Connection, wait
from pathlib import Path

from .conversion import convert
from .limits import die_with_parent, kernel_call_prctl, over_time_limit
from .rules import RuleSet
from .statefolder import HeldRun
from .tasks import Chunk, Outcome, Task
from .write import sweep_temporary_files

# Tasks handed to a worker at once, and chunks of input order held at most per worker.
_CHUNK = 16
_WINDOW_PER_JOB = 4
_DIED = "the process converting it died (out of memory, or a crash in a library)"
# How long an idle worker gets to exit when the run is done, before it is killed.
_GOODBYE_SECONDS = 5
# What a worker shares with the run: the task of its batch it is on, and that task's deadline.
_ON, _UNTIL = 0, 1


@dataclass(eq=False)
class _Slot:
    """One chunk of the input order, filled in as its tasks come back."""

    items: Chunk
    missing: int = 0
    deaths: dict[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.missing = sum(isinstance(item, Task) for item in self.items)

    def fill(self, index: int, outcome: Outcome) -> None:
        self.items[index] = outcome
        self.missing -= 1


# A task waiting for a worker: where its outcome goes, and whether it must run alone.
_Waiting = tuple[_Slot, int, bool]


class _Worker:
    """One worker process and the batch it was given."""

    def __init__(self, context: multiprocessing.context.BaseContext, rules: RuleSet, close: int) -> None:
        self.connection, child = context.Pipe()
        self.progress = context.RawArray("d", 2)
        self.process = context.Process(target=_serve, args=(child, self.progress, rules, os.getpid(), close), daemon=True)
        self.process.start()
        child.close()
        self.batch: list[_Waiting] = []

    def give(self, batch: list[_Waiting]) -> None:
        tasks = [slot.items[index] for slot, index, _ in batch]
        self.progress[_ON], self.progress[_UNTIL] = 0, _deadline(tasks[0])  # until the worker says it itself
        self.connection.send_bytes(marshal.dumps([task.message() for task in tasks]))
        self.batch = batch

    def deadline(self) -> float:
        return self.progress[_UNTIL]

    def position(self) -> int:
        """The task of the batch the worker is on (read twice: it may just be moving on)."""
        return min(int(self.progress[_ON]), len(self.batch) - 1)

    def stop(self, kill: bool) -> None:
        """End the worker: asked to (it is idle), or killed. Asked, not by closing the pipe: a
        worker forked later holds a copy of this end, so the pipe would never close."""
        if not kill:
            with contextlib.suppress(OSError):
                self.connection.send_bytes(marshal.dumps(None))
            self.process.join(_GOODBYE_SECONDS)
        if self.process.is_alive():
            with contextlib.suppress(OSError):
                os.kill(self.process.pid, signal.SIGKILL)
        self.connection.close()
        self.process.join()


class Pool:
    """Up to `jobs` worker processes for one run; `run` converts a stream of tasks with them."""

    def __init__(self, jobs: int, rules: RuleSet, held: HeldRun, output_dir: Path, inputs: list[Path]) -> None:
        self._jobs = max(jobs, 1)
        self._rules = rules
        self._held = held
        self._output_dir = output_dir
        self._inputs = inputs
        self._context = multiprocessing.get_context("fork" if sys.platform == "linux" else None)
        self._idle: list[_Worker] = []
        self._busy: dict[Connection, _Worker] = {}
        self._lost: set[int] = set()  # workers killed or dead: their temporary files are swept at the end

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        self.close(aborted=kind is not None)

    def run(self, items: Iterator[Outcome | Task]) -> Iterator[Outcome]:
        """The outcome of every item, in input order: Outcomes as they are, Tasks converted."""
        chunks = _chunks(items)
        order: deque[_Slot] = deque()
        waiting: deque[_Waiting] = deque()
        exhausted = False
        while True:
            if not exhausted and not waiting and len(order) <= self._jobs * _WINDOW_PER_JOB:
                chunk = next(chunks, None)
                if chunk is None:
                    exhausted = True
                else:
                    order.append(_Slot(chunk))
                    waiting.extend((order[-1], index, False) for index, item in enumerate(chunk) if isinstance(item, Task))
            self._dispatch(waiting)
            while order and not order[0].missing:
                yield from order.popleft().items
            if exhausted and not order:
                return
            if self._busy:
                # Wait for the workers only when nothing else can be done: no more to read ahead.
                stuck = exhausted or bool(waiting) or len(order) > self._jobs * _WINDOW_PER_JOB
                self._collect(waiting, block=stuck)

    def _dispatch(self, waiting: deque[_Waiting]) -> None:
        """Give waiting tasks to idle workers, forking one only when none is idle."""
        while waiting:
            if self._idle:
                worker = self._idle.pop()
            elif len(self._busy) < self._jobs:
                worker = self._start()
            else:
                return
            batch = [waiting.popleft()]
            while waiting and len(batch) < _CHUNK and not batch[0][2] and not waiting[0][2]:
                batch.append(waiting.popleft())
            try:
                worker.give(batch)
            except OSError:  # it died while idle
                waiting.extendleft(reversed(batch))
                self._bury(worker)
                continue
            self._busy[worker.connection] = worker

    def _start(self) -> _Worker:
        import_module(f"{__package__}.pipeline")  # loaded before the fork, so workers share it
        self._rules.load()  # read once, before the fork, not by every worker
        kernel_call_prctl()
        worker = _Worker(self._context, self._rules, self._held.lock)
        self._held.add_process(worker.process.pid)
        return worker

    def _collect(self, waiting: deque[_Waiting], block: bool) -> None:
        """Take the batches the busy workers answered (waiting for one, if `block`, or for the
        first deadline); kill those past a task's deadline."""
        timeout = max(0.0, min(worker.deadline() for worker in self._busy.values()) - time.monotonic()) if block else 0.0
        for connection in wait(list(self._busy), None if math.isinf(timeout) else timeout):
            worker = self._busy.pop(connection)
            try:
                outcomes = marshal.loads(connection.recv_bytes())
            except (EOFError, OSError):
                self._died(worker, waiting)
                continue
            for (slot, index, _), outcome in zip(worker.batch, outcomes, strict=True):
                slot.fill(index, Outcome.from_message(outcome))
            self._idle.append(worker)
        now = time.monotonic()
        for worker in [worker for worker in self._busy.values() if worker.deadline() <= now]:
            del self._busy[worker.connection]
            slot, index, _ = worker.batch[worker.position()]
            slot.fill(index, Outcome(slot.items[index].display, "failed", over_time_limit(slot.items[index].timeout)))
            self._requeue(worker, waiting, skip=worker.position())

    def _died(self, worker: _Worker, waiting: deque[_Waiting]) -> None:
        """The task a worker died on runs again alone, once; the rest of its batch goes on."""
        at = worker.position()
        slot, index, _ = worker.batch[at]
        slot.deaths[index] = slot.deaths.get(index, 0) + 1
        if slot.deaths[index] > 1:
            slot.fill(index, Outcome(slot.items[index].display, "failed", _DIED))
            self._requeue(worker, waiting, skip=at)
        else:
            self._requeue(worker, waiting, skip=at)
            waiting.appendleft((slot, index, True))

    def _requeue(self, worker: _Worker, waiting: deque[_Waiting], skip: int) -> None:
        """Put a lost worker's batch back in line, but for the task at `skip`, and bury it."""
        rest = [(slot, index, False) for at, (slot, index, _) in enumerate(worker.batch) if at != skip]
        waiting.extendleft(reversed(rest))
        self._bury(worker)

    def _bury(self, worker: _Worker) -> None:
        worker.stop(kill=True)
        self._lost.add(worker.process.pid)

    def close(self, aborted: bool = False) -> None:
        """Stop the workers (killed, if the run was interrupted) and sweep what lost ones left."""
        for worker in [*self._idle, *self._busy.values()]:
            worker.stop(kill=aborted)
            if aborted:
                self._lost.add(worker.process.pid)
        self._idle, self._busy = [], {}
        if self._lost:
            sweep_temporary_files(self._output_dir, self._lost, self._inputs)
            self._lost = set()


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


def _serve(connection: Connection, progress: multiprocessing.Array, rules: RuleSet, parent: int, lock_descriptor: int) -> None:
    """A worker's life: convert each batch it is given and answer with its outcomes, showing the
    run which task it is on and until when, until the run says it is done."""
    _init_worker(parent, lock_descriptor)
    while True:
        try:
            messages = marshal.loads(connection.recv_bytes())
        except (EOFError, OSError):
            return
        if messages is None:
            return
        outcomes = []
        for at, message in enumerate(messages):
            task = Task.from_message(message)
            progress[_UNTIL] = _deadline(task)
            progress[_ON] = at
            outcomes.append(convert(task, rules).message())
        connection.send_bytes(marshal.dumps(outcomes))


def _deadline(task: Task) -> float:
    """When the task's time is up: --timeout from now, after the input has settled (the worker
    waits for that first); never, with no limit."""
    if task.timeout <= 0:
        return math.inf
    age = time.time() - task.mtime_ns / 1e9
    settling = task.settle - age if 0 <= age < task.settle else 0.0
    return time.monotonic() + settling + task.timeout


def _init_worker(parent: int, lock_descriptor: int) -> None:
    """No way to outlive the run, and no part in its Ctrl-C.

    A forked worker shares the run's lock; if the run is killed (cron's
    timeout, SIGKILL) an orphaned worker would keep the output folder locked
    for ever. So the worker drops its copy of the lock and asks the kernel to
    kill it when its parent dies. Ctrl-C reaches the whole process group: the
    run handles it and stops its workers, which ignore it.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform == "linux":
        with contextlib.suppress(OSError):
            os.close(lock_descriptor)
        die_with_parent(parent)
