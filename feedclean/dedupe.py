"""`--dedupe`: one output per canonical URL, the latest fetch's.

Merging happens after the conversions, from the state: which inputs made an
output from which URL, and when each was fetched. Nothing read from the state
is trusted with a deletion: an output is removed only if it lies inside OUT
and is, byte for byte, what feedclean wrote there (ownership.py), and an
input is converted again only if it lies under one of the run's own inputs.
Outputs of deleted inputs stay (an archive keeps its articles), unless an
input still there has an output standing for their URL.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .ownership import remove_owned
from .paths import SUFFIXES, display_path, inside_output, is_inside
from .plan import options_fingerprint
from .rules import RuleSet
from .state import Record, State
from .tasks import Options, Outcome, Task


@dataclass(frozen=True)
class Restore:
    """A merged duplicate to convert again (the input that won is gone), and the records of
    deleted inputs whose outputs go once it is back."""

    record: Record
    replaces: list[Record]


def merge_duplicates(state: State, options: Options) -> tuple[int, list[Restore]]:
    """Keep one output per canonical URL, the latest fetch's among inputs still there; return
    how many were newly merged, and what must be converted again."""
    output_dir = os.fspath(options.output_dir)
    merged = 0
    restores = []
    for url in state.duplicate_urls(options.output_format):
        records = state.with_url(url, options.output_format)
        alive = [record for record in records if os.path.exists(record.input)]
        gone = []
        for record in (record for record in records if record not in alive):
            if record.merged:
                state.forget(record)  # it has no output, and its input is gone: nothing to keep
            else:
                gone.append(record)
        if not alive:
            continue
        alive.sort(key=lambda r: (r.fetched if r.fetched is not None else float("-inf"), r.input), reverse=True)
        for loser in alive[1:]:
            if not loser.merged and _remove_output(state, output_dir, loser.output):
                state.save(loser._replace(merged=True))
                merged += 1
        if alive[0].merged:
            restores.append(Restore(alive[0], gone))
        else:
            retire(state, output_dir, gone)
    return merged, restores


def retire(state: State, output_dir: str, gone: list[Record]) -> None:
    """Remove the outputs of deleted inputs, now that an input still there has one for their URL."""
    for record in gone:
        if _remove_output(state, output_dir, record.output):
            state.forget(record)


def _remove_output(state: State, output_dir: str, relative: str) -> bool:
    """Remove an output named by the state, if it is inside OUT and feedclean's; whether it is gone."""
    path = inside_output(output_dir, relative)
    if path is None or relative.endswith("/") or not remove_owned(path, state.written(relative)):
        return False
    state.disown(relative)
    return True


def restore_task(restore: Restore, options: Options, rules: RuleSet, state: State, inputs: list[Path]) -> Outcome | Task | None:
    """The conversion that brings a merged duplicate back, or why it cannot be done; None when the
    input is not under this run's inputs (a run over them brings it back)."""
    record = restore.record
    display = display_path(record.input)
    if not any(is_inside(record.input, root) for root in inputs):
        return None
    suffix = SUFFIXES[options.output_format]
    if not record.output.endswith(suffix) or inside_output(os.fspath(options.output_dir), record.output) is None:
        named = display_path(record.output)
        return Outcome(display, "failed", f"the state names {named} as its output, which is not in OUT; delete the state")
    try:
        status = os.stat(record.input)
    except OSError as error:
        return Outcome(display, "failed", f"cannot read: {error.strerror or error}")
    folder = f"{record.output.removesuffix(suffix)}/"
    owned = state.written_in(folder)
    if (written := state.written(record.output)) is not None:
        owned[record.output] = written
    return Task(
        record.input, display, record.input, os.fspath(options.output_dir), record.output, folder,
        "restored (the duplicate that won is gone)", status.st_size, status.st_mtime_ns,
        options_fingerprint(rules, options.output_format), options.output_format, options.max_bytes, 0.0,
        options.timeout, None, owned,
    )  # fmt: skip
