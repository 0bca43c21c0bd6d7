"""What a batch run tells its user: a rich progress bar on a terminal, plain lines elsewhere.

Off a terminal (cron, pipes, CI) there are no colours, bars or escape codes:
failures are one line each on stderr, then one summary line. rich is only
imported when stderr is a terminal, which also keeps start-up cheap.
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

from .batch import Outcome, Summary

PROGRAM = "feedclean"


class ListingFailed(Exception):
    """The dry run's list could not be written to stdout (a closed pipe, a full disk): the run
    stops, and the output folder is not to blame."""


class Reporter:
    """Receives each input's outcome as the run goes, then the summary."""

    def __init__(self, quiet: bool = False, stream: TextIO | None = None, out: TextIO | None = None) -> None:
        self.quiet = quiet
        self.stream = stream or sys.stderr
        self.out = out or sys.stdout
        self.fancy = not quiet and _is_terminal(self.stream)
        self._progress = None
        self._task = None

    def start(self, total: int | None) -> None:
        if not self.fancy:
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        console = Console(file=self.stream)
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("converting"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            refresh_per_second=8,
        )
        self._progress.start()
        self._task = self._progress.add_task("convert", total=total)

    def waiting(self, holder: str) -> None:
        if not self.quiet:
            self._say(f"{PROGRAM}: another run ({holder}) is writing to this folder; waiting for it to finish")

    def __call__(self, outcome: Outcome) -> None:
        if outcome.status == "failed":
            self._say(f"{PROGRAM}: error: {outcome.input}: {outcome.reason}", style="red")
        elif outcome.status == "would convert":
            try:
                print(f"{outcome.reason}\t{outcome.input} -> {outcome.output}", file=self.out)
            except OSError as error:
                raise ListingFailed from error
        elif outcome.status == "deferred" and not self.quiet:
            self._say(f"{PROGRAM}: note: {outcome.input}: {outcome.reason}")
        if not self.quiet:
            for warning in outcome.warnings:
                self._say(f"{PROGRAM}: warning: {outcome.input}: {warning}", style="yellow")
        if self._progress is not None:
            self._progress.advance(self._task)

    def stop(self) -> None:
        """Take the progress bar off the screen."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def finish(self, summary: Summary) -> None:
        self.stop()
        if self.quiet:
            return
        if self.fancy:
            self._table(summary)
        self._say(_summary_line(summary))

    def _say(self, line: str, style: str | None = None) -> None:
        if self._progress is not None:
            self._progress.console.print(line, style=style, markup=False, highlight=False, soft_wrap=True)
        else:
            print(line, file=self.stream, flush=True)

    def _table(self, summary: Summary) -> None:
        from rich.console import Console
        from rich.table import Table

        table = Table(title="feedclean dry run" if summary.dry_run else "feedclean run", show_header=True)
        table.add_column("result")
        table.add_column("inputs", justify="right")
        rows = [(status, count) for status, count in sorted(summary.counts.items())]
        if summary.merged:
            rows.append(("duplicates merged", summary.merged))
        for status, count in rows:
            table.add_row(status, str(count), style="red" if status == "failed" and count else None)
        Console(file=self.stream).print(table)


def _summary_line(summary: Summary) -> str:
    counts = summary.counts
    if summary.dry_run:
        parts = [f"{counts['would convert']} to convert", f"{counts['unchanged']} unchanged", f"{counts['failed']} failed"]
    else:
        parts = [f"{counts['converted']} converted", f"{counts['unchanged']} unchanged", f"{counts['failed']} failed"]
        if counts["deferred"]:
            parts.append(f"{counts['deferred']} deferred")
        if summary.merged:
            parts.append(f"{summary.merged} duplicates merged")
    return f"{PROGRAM}: {', '.join(parts)} in {summary.seconds:.2f} s"


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty() and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError):
        return False
