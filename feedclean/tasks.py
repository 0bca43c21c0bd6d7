"""What a batch run passes between its stages: the options, one input's task, one input's outcome.

Planning (plan.py) turns each input into a Task or, when nothing needs doing,
an Outcome; the workers (workers.py) turn Tasks into Outcomes; the run
(batch.py) records and reports them. Tasks cross into worker processes, so
they hold only plain values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

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


@dataclass
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


@dataclass(frozen=True, slots=True)
class Task:
    """One input to convert, with all a worker process needs to know about it."""

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
    # What the state says feedclean wrote at the output and in the feed folder, by path in OUT:
    # only those files (and absent ones) may be replaced.
    owned: dict[str, Written]


# Inputs handed to a worker together, in input order: conversions and known outcomes.
Chunk = list[Outcome | Task]
