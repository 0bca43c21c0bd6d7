"""What a batch run passes between its stages: the options, one input's task, one input's outcome.

Planning (plan.py) turns each input into a Task or, when nothing needs doing,
an Outcome; the workers (workers.py) turn Tasks into Outcomes; the run
(batch.py) records and reports them. Tasks cross into worker processes, so
they hold only plain values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from .limits import DEFAULT_MAX_BYTES, DEFAULT_SETTLE_SECONDS, DEFAULT_TIMEOUT_SECONDS
from .state import Record, Written


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


@dataclass(slots=True)
class Outcome:
    """What happened to one input."""

    input: str
    status: str
    reason: str = ""
    output: str | None = None
    warnings: list[str] = field(default_factory=list)
    record: Record | None = None
    # The files its conversion wrote (or found holding what it would write), for the state.
    written: list[Written] = field(default_factory=list)

    def message(self) -> tuple:
        """The outcome as plain values, as a worker sends it back (see Task.message)."""
        record = None if self.record is None else tuple(self.record)
        return (self.input, self.status, self.reason, self.output, self.warnings, record, [tuple(w) for w in self.written])

    @classmethod
    def from_message(cls, message: tuple) -> Outcome:
        shown, status, reason, output, warnings, record, written = message
        record = None if record is None else Record._make(record)
        return cls(shown, status, reason, output, warnings, record, [Written._make(values) for values in written])


class Task(NamedTuple):
    """One input to convert, with all a worker process needs to know about it.

    A named tuple, and sent to its worker as plain values (`message`): the run makes one for
    every input it converts, and a frozen dataclass cost ten times as much to make and to pickle.
    """

    path: str
    display: str
    key: str
    output_dir: str
    output_rel: str
    folder_rel: str
    reason: str
    size: int
    mtime_ns: int
    fingerprint: str
    output_format: str
    max_bytes: int
    settle: float
    timeout: float
    known: Record | None
    # What the state says feedclean wrote at the output and in the feed folder, by path in OUT:
    # only those files (and absent ones) may be replaced.
    owned: dict[str, Written]

    def message(self) -> tuple:
        """The task as plain values, its records as tuples: what pickles cheaply to a worker."""
        *plain, known, owned = self
        return (*plain, None if known is None else tuple(known), [tuple(written) for written in owned.values()])

    @classmethod
    def from_message(cls, message: tuple) -> Task:
        *plain, known, owned = message
        known = None if known is None else Record._make(known)
        return cls(*plain, known, {values[0]: Written._make(values) for values in owned})


# Inputs handed to a worker together, in input order: conversions and known outcomes.
Chunk = list[Outcome | Task]
