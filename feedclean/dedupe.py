"""`--dedupe`: one output per canonical URL, the latest fetch's.

Merging happens after the conversions, from the state alone: which inputs
made an output from which URL, and when each was fetched.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import replace
from pathlib import Path

from .conversion import convert
from .paths import display_path
from .plan import options_fingerprint
from .rules import RuleSet
from .state import Record, State
from .tasks import Options, Outcome, Task


def merge_duplicates(state: State, output_dir: Path, output_format: str) -> tuple[int, list[Record]]:
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


def restore(record: Record, options: Options, rules: RuleSet) -> Outcome:
    """Convert a merged duplicate again, now that the input that won is gone."""
    try:
        status = os.stat(record.input)
    except OSError as error:
        return Outcome(display_path(record.input), "failed", f"cannot read: {error.strerror or error}")
    return convert(Task(
        record.input, display_path(record.input), record.input, os.fspath(options.output_dir), record.output,
        record.output, "restored (the duplicate that won is gone)", status.st_size, status.st_mtime_ns, None,
        options_fingerprint(rules, options.output_format), options.output_format, options.max_bytes, 0.0, options.timeout,
    ), rules)  # fmt: skip
