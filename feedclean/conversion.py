"""Converting one task: read the input, run the pipeline, write the output(s), say what happened.

Runs in a worker process, which the run kills if the task takes longer than
--timeout (workers.py). Never raises for a bad input: every problem is an
Outcome, so one input never stops the batch.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Callable
from functools import cache

from .article import Article, InputError
from .ownership import foreign, written_record
from .paths import SUFFIXES, display_path, inside_output
from .rules import RuleSet
from .stable import Deferred, digest, read_stable, stat_key, stat_or_none
from .state import Record, Written
from .tasks import Outcome, Task
from .write import output_key, write_atomic, write_new


def convert(task: Task, rules: RuleSet) -> Outcome:
    """Convert one input and write its output(s); never raises for a bad input."""
    process_all, render = _stack()
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
        record = task.known._replace(size=status.st_size, mtime_ns=status.st_mtime_ns)
        return Outcome(
            task.display, "unchanged", output=display_path(os.path.join(task.output_dir, record.output)), record=record
        )
    try:
        articles = process_all(data, task.display, rules=rules, max_bytes=task.max_bytes)
        outputs = _outputs(task, articles, render)
    except (InputError, RecursionError) as error:
        problem = "markup nested too deeply to convert" if isinstance(error, RecursionError) else str(error)
    except Exception as error:  # a bug must cost one input, not the batch
        problem = f"internal error ({type(error).__name__}: {error}); please report it"
    else:
        problem = None
    if stat_key(stat_or_none(task.path)) != stat_key(status):
        return Outcome(task.display, "deferred", "changed (or went) while being converted; left for the next run")
    if problem is not None:
        return Outcome(task.display, "failed", problem)
    return _write_outputs(task, articles, outputs, status, content)


@cache
def _stack() -> tuple[Callable[..., list[Article]], Callable[[Article, str], str]]:
    """process_all and render: the conversion stack loads only when a run converts something, and
    once (an import in `convert` cost as much as writing a small output)."""
    from .pipeline import process_all
    from .render import render

    return process_all, render


def _write_outputs(
    task: Task, articles: list[Article], outputs: list[tuple[str, str]], status: os.stat_result, content: str
) -> Outcome:
    """Write every output, or none: all are checked before the first is written, so a feed is
    written whole or not at all. A lone output where the state knows of no file (a new input's)
    is written only if nothing is there, which the write itself checks (write_new); if something
    is, it is checked as any other."""
    feed = articles[0].from_feed
    planned = []
    for relative, text in outputs:
        path = inside_output(task.output_dir, relative)
        if path is None:
            shown, folder = display_path(os.path.join(task.output_dir, relative)), display_path(task.output_dir)
            return Outcome(task.display, "failed", f"its output {shown} would land outside {folder} (a symlink?)")
        planned.append((relative, path, text.encode("utf-8")))
    if len(planned) == 1 and planned[0][0] not in task.owned:
        relative, path, data = planned[0]
        try:
            new = write_new(path, data)
        except OSError as error:
            return Outcome(task.display, "failed", f"cannot write {display_path(path)}: {error.strerror or error}")
        if new is not None:
            return _converted(task, articles, status, content, [written_record(relative, data, new)])
    for relative, path, data in planned:
        problem = foreign(path, task.owned.get(relative), data)
        if problem is not None:
            return Outcome(task.display, "failed", f"its {'item ' if feed else ''}output {display_path(path)} {problem}")
    written = []
    for relative, path, data in planned:
        try:
            written.append(written_record(relative, data, write_atomic(path, data)))
        except OSError as error:
            problem = f"cannot write {display_path(path)}: {error.strerror or error}"
            return Outcome(task.display, "failed", problem, written=written)  # what was written is still feedclean's
    return _converted(task, articles, status, content, written)


def _outputs(task: Task, articles: list[Article], render: Callable[[Article, str], str]) -> list[tuple[str, str]]:
    """Where each article goes (relative to OUT): a dump's to its output file, a feed's items into a folder by id.

    Items with the same id (the same link) are told apart by their content,
    not by their order, so a feed that reorders its items renames nothing.
    """
    if len(articles) == 1 and not articles[0].from_feed:
        return [(task.output_rel, render(articles[0], task.output_format))]
    suffix = SUFFIXES[task.output_format]
    counts = Counter(article.id for article in articles)
    outputs = []
    for article in articles:
        text = render(article, task.output_format)
        name = article.id if counts[article.id] == 1 else f"{article.id}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"
        outputs.append((f"{task.folder_rel}{name}{suffix}", text))
    return outputs


def _converted(task: Task, articles: list[Article], status: os.stat_result, content: str, written: list[Written]) -> Outcome:
    """The outcome of a conversion, with the records the state keeps of it."""
    article = None if articles[0].from_feed else articles[0]
    output_rel = task.folder_rel if article is None else task.output_rel
    output = f"{task.output_dir}{os.sep}{output_rel}"
    key = output_key(output) if article is None else (written[0].size, written[0].mtime_ns)
    if key is None:
        return Outcome(task.display, "failed", f"output {display_path(output)} vanished after writing")
    url = article.canonical_url if article is not None else None
    fetched = article.fetched.timestamp() if article is not None and article.fetched else None
    record = Record(
        task.key, task.output_format, status.st_size, status.st_mtime_ns, content, task.fingerprint, output_rel,
        key[0], key[1], url, fetched, False,
    )  # fmt: skip
    reason = task.reason if task.reason != "touched" else "changed"
    warnings = [warning for item in articles for warning in item.warnings]
    return Outcome(task.display, "converted", reason, display_path(output), warnings, record, written)
