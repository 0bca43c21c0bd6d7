"""Planning a run: for each input, whether it needs converting, and why, or why it cannot be.

Planning runs in the run's own process, in input order, and only looks at
file status and the state: an unchanged re-run of thousands of inputs reads
none of them. Its result is a stream of Tasks (to convert) and Outcomes
(nothing to do, or a failure known without converting).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Iterator
from functools import cache
from pathlib import Path

from . import __version__
from .article import InputError
from .limits import over_size_limit
from .ownership import foreign
from .paths import SUFFIXES, Found, discover, display_path, is_item_name, output_names
from .rules import BUILTIN_PATH, RuleSet
from .stable import Deferred, digest, read_stable, stat_if_there
from .state import Record, State
from .tasks import Options, Outcome, Task
from .write import output_key, read_at_most


def options_fingerprint(rules: RuleSet, output_format: str) -> str:
    """Changes whenever the output for an unchanged input could change: the code, the format, the rules."""
    source = json.dumps([_code_digest(), output_format, rules.digest_source])
    return hashlib.sha256(source.encode()).hexdigest()[:16]


@cache
def _code_digest() -> str:
    """feedclean's version and the digest of its own files, so a changed install converts again."""
    code = hashlib.sha256(__version__.encode())
    package = Path(__file__).parent
    for name in sorted(entry.name for entry in os.scandir(package) if entry.name.endswith(".py")):
        code.update((package / name).read_bytes())
    code.update(BUILTIN_PATH.read_bytes())
    return code.hexdigest()


def plan(paths: list[Path], options: Options, rules: RuleSet, state: State) -> Iterator[Outcome | Task]:
    """For each input: an Outcome when nothing needs doing (or it cannot be done), else a task."""
    fingerprint = options_fingerprint(rules, options.output_format)
    suffix = SUFFIXES[options.output_format]
    output_dir = os.fspath(options.output_dir)
    # Outputs two inputs may want, and the first input. Inputs under one root collide only
    # within a folder, and only when they share a stem; under several roots, any two may.
    claimed: dict[str, str] = {}
    several_roots = len(paths) > 1
    seen: set[str] = set()  # under several roots, one file can be found twice (a folder, and a file in it)
    check_owners = not state.empty
    # A state blank when the run began knows no input and no output: the first run into a folder
    # asks it nothing (three look-ups an input). What this run records meanwhile is of inputs
    # planned already, whose outputs no later input may share (`claimed`, `_FeedFolders`).
    known = None if state.blank else state
    folder = None
    items = _FeedFolders(several_roots, options.max_bytes)
    for found in discover(paths, options.output_dir, options.globs):
        display = display_path(found.path)
        if found.problem:
            yield Outcome(display, "failed", found.problem)
            continue
        if several_roots:
            if found.key in seen:
                continue
            seen.add(found.key)
        output_rel, folder_rel = output_names(found.relative, suffix)
        if not several_roots and found.relative.rpartition("/")[0] != folder:
            folder, claimed = found.relative.rpartition("/")[0], {}
        if (several_roots or found.shares_stem) and claimed.setdefault(output_rel, found.key) != found.key:
            shown = display_path(f"{output_dir}{os.sep}{output_rel}")
            yield Outcome(display, "failed", f"its output {shown} is also another input's; rename one of them")
            continue
        clash = items.clash(found, output_rel, folder_rel, output_dir)
        if clash is not None:
            yield Outcome(display, "failed", clash)
            continue
        try:
            status = os.stat(found.path)
        except OSError as error:
            yield Outcome(display, "failed", f"cannot read: {error.strerror or error}")
            continue
        item = _plan_one(found, display, status, output_dir, output_rel, folder_rel, fingerprint, options, known, check_owners)
        yield dry_run_outcome(item) if options.dry_run and isinstance(item, Task) else item


class _FeedFolders:
    """Outputs a feed's items may claim: a feed f.xml puts its items in OUT/f/, named by their
    ids, where a dump f/0123456789abcdef.txt beside it puts its output too.

    Which input is a feed is known from its content, and which items it has only once it is
    converted, so the names are reserved: a dump named like an item in a feed's folder clashes
    with the feed, whatever items the feed has today, and of the two the later input (in input
    order) fails, every run, naming the other. Under one root the feed always comes first (a
    folder's files before its subfolders), and only files beside a folder of their stem's name
    can be such a feed; under several roots, any input can, and either may come first.
    """

    def __init__(self, several_roots: bool, max_bytes: int) -> None:
        self._several_roots = several_roots
        self._max_bytes = max_bytes
        self._feeds: dict[str, Found] = {}  # a folder (a/f/) and the input whose items it would hold
        self._items: dict[str, Found] = {}  # under several roots: a folder, and a dump named like an item in it
        self._is_feed: dict[str, bool] = {}

    def clash(self, found: Found, output_rel: str, folder_rel: str, output_dir: str) -> str | None:
        """Why `found` fails because an earlier input claims the same names, or None."""
        folder, _, name = output_rel.rpartition("/")
        feed = self._feeds.get(f"{folder}/") if self._feeds and is_item_name(name) else None
        dump = self._items.get(folder_rel)
        if self._several_roots or found.beside_namesake:
            self._feeds.setdefault(folder_rel, found)
        if self._several_roots and is_item_name(name):
            self._items.setdefault(f"{folder}/", found)
        if feed is not None and feed.key != found.key and self._feed(feed):
            output = display_path(f"{output_dir}{os.sep}{output_rel}")
            return f"its output {output} is where the feed {display_path(feed.path)} puts its items; rename one of them"
        if dump is not None and dump.key != found.key and self._feed(found):
            items = display_path(f"{output_dir}{os.sep}{folder_rel}")
            return f"it is a feed whose items go to {items}, where {display_path(dump.path)} has its output; rename one of them"
        return None

    def _feed(self, found: Found) -> bool:
        if found.key not in self._is_feed:
            self._is_feed[found.key] = _is_feed_file(found.path, self._max_bytes)
        return self._is_feed[found.key]


def _is_feed_file(path: str, max_bytes: int) -> bool:
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        return stat.S_ISREG(os.fstat(descriptor).st_mode) and _is_feed(read_at_most(descriptor, max_bytes))
    except OSError:
        return False
    finally:
        os.close(descriptor)


def _plan_one(
    found: Found,
    display: str,
    status: os.stat_result,
    output_dir: str,
    output_rel: str,
    folder_rel: str,
    fingerprint: str,
    options: Options,
    state: State | None,
    check_owners: bool,
) -> Outcome | Task:
    """The task for one input, or the outcome that makes one needless; `state` None when it was blank."""
    output = f"{output_dir}{os.sep}{output_rel}"
    if not stat.S_ISREG(status.st_mode):
        return Outcome(display, "failed", "not a regular file (a folder, FIFO, device or socket)")
    if status.st_size > options.max_bytes:
        return Outcome(display, "failed", over_size_limit(options.max_bytes, status.st_size))
    output_status = stat_if_there(output)
    if output_status is not None and (output_status.st_dev, output_status.st_ino) == (status.st_dev, status.st_ino):
        return Outcome(
            display, "failed", f"its output {display_path(output)} would overwrite the input itself; choose another -o"
        )
    if output_status is not None and not stat.S_ISREG(output_status.st_mode):
        return Outcome(display, "failed", f"its output {display_path(output)} is not a regular file; move it away")
    record = state.lookup(found.key, options.output_format) if state is not None else None
    if (record is None or record.output not in (output_rel, folder_rel)) and check_owners:
        other = state.owner_of(output_rel, found.key)
        if other is not None:
            return Outcome(display, "failed", f"its output {display_path(output)} is already the output of {display_path(other)}")
    known_status = output_status if record is not None and record.output == output_rel else None
    reason = _reason_to_convert(record, status, known_status, output_dir, fingerprint, options)
    if reason is None:
        return Outcome(display, "unchanged", output=display_path(f"{output_dir}{os.sep}{record.output}"))
    owned = state.written_in(folder_rel) if state is not None else {}
    written = state.written(output_rel) if state is not None else None
    if written is not None:
        owned[output_rel] = written
    if reason == "output modified" and record.output == output_rel:
        problem = foreign(output, written)  # an edit by hand makes the file yours: said now, nothing converted
        if problem is not None:
            return Outcome(display, "failed", f"its output {display_path(output)} {problem}")
    return Task(
        found.path, display, found.key, output_dir, output_rel, folder_rel, reason, status.st_size, status.st_mtime_ns,
        fingerprint, options.output_format, options.max_bytes, options.settle, options.timeout,
        record if reason == "touched" else None, owned,
    )  # fmt: skip


def _reason_to_convert(
    record: Record | None,
    status: os.stat_result,
    output_status: os.stat_result | None,
    output_dir: str,
    fingerprint: str,
    options: Options,
) -> str | None:
    """Why the input needs converting, "touched" if only its content hash can tell, None if not."""
    if options.force:
        return "forced"
    if record is None:
        return "new"
    if record.options != fingerprint:
        return "options changed"
    if record.merged and not options.dedupe:
        return "duplicate no longer merged"
    if not record.merged:
        key = output_key(f"{output_dir}{os.sep}{record.output}", output_status)
        if key is None:
            return "output missing"
        if key != (record.output_size, record.output_mtime_ns):
            return "output modified"
    if (status.st_size, status.st_mtime_ns) == (record.size, record.mtime_ns):
        return None
    return "touched"


def dry_run_outcome(task: Task) -> Outcome:
    """What a run would do with the input, judged by reading it now: a dry run never waits out --settle."""
    try:
        data: bytes | None = read_stable(task._replace(settle=0.0))[0]
    except (OSError, Deferred):
        data = None
    if task.reason == "touched" and data is not None and digest(data) == task.known.digest:
        return Outcome(task.display, "unchanged", output=_shown_output(task, task.known.output == task.folder_rel))
    reason = "changed" if task.reason == "touched" else task.reason
    return Outcome(task.display, "would convert", reason, _shown_output(task, data is not None and _is_feed(data)))


def _shown_output(task: Task, feed: bool) -> str:
    """The output a dry run names: a feed's folder (its items' names are known only once converted), else the file."""
    return display_path(os.path.join(task.output_dir, task.folder_rel if feed else task.output_rel))


def _is_feed(data: bytes) -> bool:
    from .feeds import looks_like_feed
    from .read import decode_input

    try:
        text = decode_input(data).text
    except InputError:
        return False
    return looks_like_feed(text)
