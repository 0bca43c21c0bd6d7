"""Converting folders: find inputs, skip what is unchanged, convert the rest in parallel.

Built for cron: inputs are streamed (memory stays flat), a bad input never
stops the batch, an input still being written is left for the next run, and
the output for an input depends only on that input and the options, so the
bytes are the same whatever `jobs` is. The stages of a run live in their own
modules: plan.py (what to convert, and why), workers.py (converting in
parallel), conversion.py (one input), dedupe.py (merging duplicates),
state.py (what the last runs saw).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from . import __version__
from .conversion import inside
from .dedupe import merge_duplicates, restore
from .plan import plan
from .rules import RuleSet
from .state import State, StateError
from .tasks import Options, Outcome
from .workers import execute
from .write import output_lock

__all__ = ["Options", "Outcome", "Summary", "run"]

# Commit the state this often, so a killed run loses at most this many records.
_CHECKPOINT_EVERY = 500


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
    inside.cache_clear()  # folders may have changed since a previous run in this process
    summary = Summary(dry_run=options.dry_run)
    if options.dry_run:
        state = State(options.output_dir, read_only=True)
        summary.state_error = state.problem
        _consume(plan(paths, options, rules, state), summary, listener, None)
        state.close()
    else:
        with output_lock(options.output_dir, options.wait, on_wait) as lock_descriptor:
            state = State(options.output_dir)
            try:
                outcomes = execute(plan(paths, options, rules, state), options, rules, lock_descriptor)
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
        summary.merged, restored = merge_duplicates(state, options.output_dir, options.output_format)
    except StateError as error:
        summary.state_error = str(error)
        return
    _consume((restore(record, options, rules) for record in restored), summary, listener, state)


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
