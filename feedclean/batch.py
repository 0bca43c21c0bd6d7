"""Converting folders: find inputs, skip what is unchanged, convert the rest in parallel.

Built for cron: inputs are streamed (memory stays flat), a bad input never
stops the batch, an input still being written is left for the next run, and
the output for an input depends only on that input and the options, so the
bytes are the same whatever `jobs` is. The stages of a run live in their own
modules: plan.py (what to convert, and why), workers.py (converting in
parallel, within --timeout), conversion.py (one input), dedupe.py (merging
duplicates), state.py (what the last runs saw, and what they wrote),
statefolder.py (OUT/.feedclean and its lock), ownership.py (which files in
OUT are feedclean's to replace).
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__
from .dedupe import merge_duplicates, restore_task, retire
from .paths import forget_folders
from .plan import plan
from .rules import RuleSet
from .state import State, StateError
from .statefolder import StateFolder, output_lock
from .tasks import Options, Outcome
from .workers import Pool

__all__ = ["Options", "Outcome", "Summary", "run"]

# Commit the state this often, so a killed run loses at most this many records.
_CHECKPOINT_EVERY = 500
# Outcomes saved in the state at once (a divisor of _CHECKPOINT_EVERY, so commits stay that far apart).
_SAVE_AT_ONCE = 25


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
    forget_folders()  # folders may have changed since a previous run in this process
    summary = Summary(dry_run=options.dry_run)
    if options.dry_run:
        folder = StateFolder.existing(options.output_dir)
        state = State(folder, read_only=True)
        summary.state_error = state.problem
        _consume(plan(paths, options, rules, state), summary, listener, None)
        state.close()
        if folder is not None:
            folder.close()
    else:
        with (
            output_lock(options.output_dir, options.wait, on_wait, paths) as held,
            Pool(options.jobs, rules, held, options.output_dir, paths) as pool,
        ):
            state = State(held.folder)
            try:
                _consume(pool.run(plan(paths, options, rules, state)), summary, listener, state)
                if options.dedupe and summary.state_error is None:
                    _dedupe(state, options, rules, summary, listener, pool, paths)
            finally:
                _close_state(state, summary)
    summary.seconds = time.monotonic() - started
    return summary


def _dedupe(
    state: State,
    options: Options,
    rules: RuleSet,
    summary: Summary,
    listener: Callable[[Outcome], None],
    pool: Pool,
    paths: list[Path],
) -> None:
    """Merge duplicates after the conversions, and bring back those whose winner is gone; a
    state that fails here fails as it would there."""
    try:
        summary.merged, restores = merge_duplicates(state, options)
        planned = [(restore, restore_task(restore, options, rules, state, paths)) for restore in restores]
        planned = [(restore, item) for restore, item in planned if item is not None]
        outcomes = pool.run(iter([item for _, item in planned]))
        for (restore, _), outcome in zip(planned, outcomes, strict=True):
            _consume([outcome], summary, listener, state)
            if outcome.status == "converted" and summary.state_error is None:
                retire(state, os.fspath(options.output_dir), restore.replaces)
    except StateError as error:
        summary.state_error = str(error)


def _consume(outcomes: Iterable[Outcome], summary: Summary, listener: Callable[[Outcome], None], state: State | None) -> None:
    """Count and report each outcome, and keep in the state what its conversion saw and wrote:
    a few dozen outcomes at once, and whatever is left when the run ends or is interrupted (a
    file written and not recorded would be no longer feedclean's)."""
    kept = _Kept(state, summary)
    try:
        for outcome in outcomes:
            if state is not None and (outcome.record is not None or outcome.written):
                kept.add(outcome)
            summary.counts[outcome.status] += 1
            if outcome.status == "failed":
                summary.failures.append(outcome)
            elif outcome.status == "deferred":
                summary.deferred.append(outcome)
            summary.warnings.extend((outcome.input, warning) for warning in outcome.warnings)
            listener(outcome)
    finally:
        kept.save()


class _Kept:
    """The outcomes a run has yet to save in the state, saved a few dozen at a time, and committed
    every _CHECKPOINT_EVERY, so a killed run loses at most that many records."""

    def __init__(self, state: State | None, summary: Summary) -> None:
        self._state = state
        self._summary = summary
        self._outcomes: list[Outcome] = []
        self._saved = 0

    def add(self, outcome: Outcome) -> None:
        self._outcomes.append(outcome)
        if len(self._outcomes) >= _SAVE_AT_ONCE:
            self.save()

    def save(self) -> None:
        outcomes, self._outcomes = self._outcomes, []
        if not outcomes or self._state is None or self._summary.state_error is not None:
            return
        records = [outcome.record for outcome in outcomes if outcome.record is not None]
        try:
            self._state.keep(records, [written for outcome in outcomes for written in outcome.written])
            before, self._saved = self._saved, self._saved + len(outcomes)
            if self._saved // _CHECKPOINT_EVERY > before // _CHECKPOINT_EVERY:
                self._state.checkpoint()
        except StateError as error:
            self._summary.state_error = str(error)


def _close_state(state: State, summary: Summary) -> None:
    try:
        state.close()
    except StateError as error:
        summary.state_error = summary.state_error or str(error)
