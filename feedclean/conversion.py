"""Converting one task: read the input, run the pipeline, write the output(s), say what happened.

Runs in a worker process (or the run's own, with -j 1). Never raises for a
bad input: every problem is an Outcome, so one input never stops the batch.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from dataclasses import replace
from functools import cache

from .article import Article, InputError
from .limits import TimedOut, over_time_limit, within_time_limit
from .paths import SUFFIXES, display_path, is_inside
from .rules import RuleSet
from .stable import Deferred, digest, read_stable, stat_key, stat_or_none
from .state import Record
from .tasks import Outcome, Task
from .write import output_key, write_atomic, written_by_feedclean


def convert(task: Task, rules: RuleSet) -> Outcome:
    """Convert one input and write its output(s); never raises for a bad input."""
    from .pipeline import process_all  # the conversion stack loads only when a run converts something

    try:
        data, status = read_stable(task)
    except Deferred:
        return Outcome(task.display, "deferred", "changed while being read; left for the next run")
    except FileNotFoundError:
        return Outcome(task.display, "deferred", "gone before it could be read (renamed by the scraper?)")
    except OSError as error:
        return Outcome(task.display, "failed", f"cannot read: {error.strerror or error}")
    content = digest(data)
    if task.known is not None and task.known.digest == content:
        record = replace(task.known, size=status.st_size, mtime_ns=status.st_mtime_ns)
        return Outcome(
            task.display, "unchanged", output=display_path(os.path.join(task.output_dir, record.output)), record=record
        )
    try:
        articles = within_time_limit(task.timeout, process_all, data, task.display, rules=rules, max_bytes=task.max_bytes)
        outputs = _outputs(task, articles)
    except (InputError, RecursionError, TimedOut) as error:
        problem = _problem(error, task.timeout)
    except Exception as error:  # a bug must cost one input, not the batch
        problem = f"internal error ({type(error).__name__}: {error}); please report it"
    else:
        problem = None
    if stat_key(stat_or_none(task.path)) != stat_key(status):
        return Outcome(task.display, "deferred", "changed (or went) while being converted; left for the next run")
    if problem is not None:
        return Outcome(task.display, "failed", problem)
    return _write_outputs(task, articles, outputs, status, content)


def _problem(error: Exception, timeout: float) -> str:
    if isinstance(error, RecursionError):
        return "markup nested too deeply to convert"
    if isinstance(error, TimedOut):
        return over_time_limit(timeout)
    return str(error)


def _write_outputs(
    task: Task, articles: list[Article], outputs: list[tuple[str, str]], status: os.stat_result, content: str
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
    outcome = _done(task, reason, status, content, None if articles[0].from_feed else articles[0], written)
    outcome.warnings = [warning for article in articles for warning in article.warnings]
    return outcome


def _unwritable(paths: list[str], task: Task, feed: bool) -> str | None:
    """Why some output cannot be written, checked for all before any is, so a feed is written
    whole or not at all. A dump's output was checked when planned; a feed's items are named by
    their ids only now, and a file there that feedclean did not write is never overwritten."""
    for path in paths:
        if not inside(task.output_dir, os.path.dirname(path)):
            return f"its output {display_path(path)} would land outside {display_path(task.output_dir)} (a symlink?)"
        if feed and os.path.lexists(path) and not written_by_feedclean(path, task.output_format):
            return f"its item output {display_path(path)} exists and was not written by feedclean; not overwritten"
    return None


@cache
def inside(output_dir: str, folder: str) -> bool:
    """Whether `folder` really is inside `output_dir`, symlinks followed. An output's own name
    needs no check: the rename that writes it replaces a symlink, it never follows one."""
    return is_inside(folder, output_dir)


def _outputs(task: Task, articles: list[Article]) -> list[tuple[str, str]]:
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
    task: Task, reason: str, status: os.stat_result, content: str, article: Article | None, written: os.stat_result
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
        task.key, task.output_format, status.st_size, status.st_mtime_ns, content, task.fingerprint, output_rel,
        key[0], key[1], url, fetched, False,
    )  # fmt: skip
    return Outcome(task.display, "converted", reason, display_path(output), record=record)
