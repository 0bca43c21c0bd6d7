"""Finding inputs and naming outputs: what a folder holds, what `--glob` keeps, where each output goes.

Paths stay strings here (pathlib costs more than the work on a re-run of
thousands of unchanged files), and they may hold bytes that are not UTF-8:
`display_path` makes any of them printable on one line.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from fnmatch import fnmatchcase
from functools import cache
from pathlib import Path
from typing import NamedTuple

# feedclean's own folder in an output folder (statefolder.py): never an output's.
STATE_DIR = ".feedclean"
# The output formats, and the suffix each output file gets.
SUFFIXES = {"md": ".md", "json": ".json"}
FORMATS = tuple(SUFFIXES)
# What a conversion to stdout can also give: JSON Lines, a stream and never a folder of files.
STREAM_FORMATS = (*FORMATS, "jsonl")
# How a feed's items are named in its folder (conversion.py): the article id, and a content hash
# when two items share it.
_ITEM_STEM = re.compile(r"[0-9a-f]{16}(?:-[0-9a-f]{8})?")
# Path components no output's name may have (paths.inside_output).
_NO_NAMES = frozenset(("", ".", ".."))
# Characters that would break a one-line message: controls (newlines, escapes).
_UNPRINTABLE = {code: f"\\x{code:02x}" for code in (*range(0x20), 0x7F)}
# Why an input is not read: it is the file the output goes to, as `cat` refuses one. Read, it
# would come back in the output (`convert . --format jsonl >> all.jsonl` grew 3.5 times a run).
OUTPUT_ITSELF = "is the output itself; skipped"


class Found(NamedTuple):
    """An input `discover` found: where it is, the relative path its output mirrors, the key
    the state knows it by (its real path), and why it cannot be converted, if it cannot. (A named
    tuple: one is made for every input of every run, and a frozen dataclass cost five times as much.)"""

    path: str
    relative: str
    key: str
    problem: str | None = None
    # Another input beside it has the same stem (a.txt, a.html), so their outputs (a.md) may clash.
    shares_stem: bool = True
    # A folder beside it has its stem for a name (news.xml, news/): if it is a feed, its items and
    # the outputs of that folder's files share OUT/news/.
    beside_namesake: bool = False


def _stem_of(name: str) -> str:
    """A file name without its suffix, as pathlib reads it ("a.tar.gz" → "a.tar", ".x" and "x." kept)."""
    dot = name.rfind(".")
    return name[:dot] if 0 < dot < len(name) - 1 else name


def display_path(path: str) -> str:
    """A path as it can be shown in a one-line message: controls and undecodable bytes escaped."""
    if path.isprintable():
        return path
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace").translate(_UNPRINTABLE)


def discover(paths: Iterable[Path], output_dir: Path | None, globs: tuple[str, ...] = ()) -> Iterator[Found]:
    """Inputs in a stable order (a folder's files before its subfolders), each root once.

    In a folder every regular, non-hidden file is an input (hidden folders
    are skipped too), and the output folder, if any (`feedclean learn` writes
    no folder), is never entered. Folders that cannot be read, and symlinks
    leading out of their folder, are reported.
    """
    output_id = _identity(os.fspath(output_dir)) if output_dir is not None else None
    roots: set[str] = set()
    for root in paths:
        path = os.fspath(root)
        real = os.path.realpath(path)
        if real in roots:
            continue
        roots.add(real)
        if os.path.isdir(path):
            yield from _walk(path, real, output_id, globs)
        else:
            yield Found(path, os.path.basename(path), real)


def _walk(top: str, real_top: str, output_id: tuple[int, int] | None, globs: tuple[str, ...]) -> Iterator[Found]:
    """Each folder's files (sorted), then its subfolders', depth first: with a stack of its own,
    not recursion, so any depth works (a thousand nested folders once overflowed Python's stack);
    a folder too deep for its path to be named fails alone, in one line."""
    stack = [(top, real_top, "")]
    while stack:
        folder, real, prefix = stack.pop()
        listing = _list(folder)
        if isinstance(listing, str):
            yield Found(folder, prefix, real, problem=f"cannot read folder: {listing}")
            continue
        files, folders, links = listing
        yield from _files_of(folder, real, prefix, files, set(folders), links, globs)
        for name in reversed(folders):
            path = os.path.join(folder, name)
            if _identity(path) != output_id:
                stack.append((path, f"{real}{os.sep}{name}", f"{prefix}{name}/"))


def _list(folder: str) -> tuple[list[str], list[str], set[str]] | str:
    """A folder's non-hidden files and subfolders, sorted, and which files are symlinks; or why it
    cannot be read. Only names are kept (a folder of 50,000 dumps costs their names, not 50,000
    directory entries)."""
    files: list[str] = []
    folders: list[str] = []
    links: set[str] = set()
    try:
        with os.scandir(folder) as scan:
            for entry in scan:
                if entry.name.startswith("."):
                    continue
                try:
                    if entry.is_dir(follow_symlinks=False):
                        folders.append(entry.name)
                    elif entry.is_file():
                        files.append(entry.name)
                        if entry.is_symlink():
                            links.add(entry.name)
                except OSError:
                    continue
    except OSError as error:
        return error.strerror or str(error)
    files.sort()
    folders.sort()
    return files, folders, links


def _files_of(
    folder: str, real: str, prefix: str, files: list[str], folders: set[str], links: set[str], globs: tuple[str, ...]
) -> Iterator[Found]:
    stems = [_stem_of(name) for name in files]
    counts = Counter(stems)
    for name, stem in zip(files, stems, strict=True):
        relative = prefix + name
        if globs and not any(_glob_matches(relative, pattern) for pattern in globs):
            continue
        path = f"{folder}{os.sep}{name}"
        key = f"{real}{os.sep}{name}"
        if name in links:
            target = os.path.realpath(path)
            if not target.startswith(real + os.sep):
                problem = f"a symlink to {display_path(target)}, outside its folder; not followed"
                yield Found(path, relative, key, problem=problem)
                continue
        yield Found(path, relative, key, None, counts[stem] > 1, stem in folders)


def _glob_matches(relative: str, pattern: str) -> bool:
    """`--glob` matching: a pattern without "/" matches the file name at any depth; one with
    "/" matches the whole relative path, "*" within one folder, "**" across any number."""
    if "/" not in pattern:
        return fnmatchcase(relative.rpartition("/")[2], pattern)
    return _match_parts(relative.split("/"), pattern.strip("/").split("/"))


def _match_parts(parts: list[str], pattern: list[str]) -> bool:
    """Path parts against pattern parts, "**" standing for any number of parts.

    Matches the set of pattern positions reachable after each part, so
    `**/**/…/x` against a deep path is linear, not exponential.
    """
    reachable = _after_stars({0}, pattern)
    for part in parts:
        reachable = _after_stars(
            {at for at in reachable if at < len(pattern) and pattern[at] == "**"}
            | {at + 1 for at in reachable if at < len(pattern) and pattern[at] != "**" and fnmatchcase(part, pattern[at])},
            pattern,
        )
        if not reachable:
            return False
    return len(pattern) in reachable


def _after_stars(positions: set[int], pattern: list[str]) -> set[int]:
    """The positions, and those after any run of "**" at them (which may match no part)."""
    reached = set(positions)
    for at in sorted(positions):
        while at < len(pattern) and pattern[at] == "**":
            at += 1
            reached.add(at)
    return reached


def is_inside(path: str | Path, folder: str | Path) -> bool:
    """Whether `path` is `folder` or lies under it, symlinks followed."""
    return (os.path.realpath(path) + os.sep).startswith(os.path.realpath(folder) + os.sep)


def inside_output(output_dir: str, relative: str) -> str | None:
    """OUT/`relative` if it really lies inside OUT, else None: the one check before feedclean
    writes or removes a file in OUT, whether its name came from an input's path or from the state.

    The state is a cache anyone can edit: a row naming `../victim.txt` once had --dedupe delete
    OUT/../victim.txt, and an OUT/a made a symlink to another folder had it delete a file there.
    So an absolute name, a "..", a name in OUT/.feedclean, or a folder that resolves outside OUT
    (every symlink on the way followed) is refused. The last component is not followed: renaming
    over it or unlinking it never follows a link, and a link there is no file of feedclean's.
    """
    name = relative.rstrip("/")
    parts = name.split("/")
    if parts[0] == STATE_DIR or not _NO_NAMES.isdisjoint(parts):  # "" too: an absolute name, "a//b", or none
        return None
    folder, _, _ = name.rpartition("/")
    return f"{output_dir}{os.sep}{name}" if _folder_inside(output_dir, folder) else None


@cache
def _folder_inside(output_dir: str, folder: str) -> bool:
    """Whether OUT/`folder` lies inside OUT. Cached for the run: many outputs share a folder, and
    resolving one costs a call per component."""
    return is_inside(f"{output_dir}{os.sep}{folder}" if folder else output_dir, output_dir)


def forget_folders() -> None:
    """Folders may have changed since a previous run in this process."""
    _folder_inside.cache_clear()


def walk_folders(top: str, skip: set[tuple[int, int]]) -> Iterator[tuple[str, list[str]]]:
    """Every folder under `top` (itself included) with the names of its files, never through a
    symlink and never into a folder whose identity is in `skip`; iterative, so any depth works."""
    stack = [top]
    while stack:
        folder = stack.pop()
        files = []
        try:
            with os.scandir(folder) as scan:
                for entry in scan:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            if _identity_of(entry) not in skip:
                                stack.append(entry.path)
                        elif entry.is_file(follow_symlinks=False):
                            files.append(entry.name)
                    except OSError:
                        continue
        except OSError:
            continue
        yield folder, files


def is_output(path: str, output: tuple[int, int] | None) -> bool:
    """Whether `path` is the file whose (device, inode) is `output`, the file being written to."""
    return output is not None and _identity(path) == output


def identities(paths: Iterable[str | Path]) -> set[tuple[int, int]]:
    """The (device, inode) of each path that exists: what a folder is, whatever it is called."""
    return {identity for identity in map(_identity, map(os.fspath, paths)) if identity is not None}


def _identity_of(entry: os.DirEntry) -> tuple[int, int]:
    status = entry.stat(follow_symlinks=False)
    return status.st_dev, status.st_ino


def _identity(path: str) -> tuple[int, int] | None:
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_dev, status.st_ino


def is_item_name(name: str) -> bool:
    """Whether a file name is one a feed's item could have (`0123456789abcdef.md`)."""
    stem, dot, suffix = name.rpartition(".")
    return bool(dot) and f".{suffix}" in SUFFIXES.values() and _ITEM_STEM.fullmatch(stem) is not None


def output_names(relative: str, suffix: str) -> tuple[str, str]:
    """The output file for a dump (IN/a/b.txt → a/b.md) and the folder for a feed's items (a/b/)."""
    folder, _, name = relative.rpartition("/")
    stem = f"{folder}/{_stem_of(name)}" if folder else _stem_of(name)
    return f"{stem}{suffix}", f"{stem}/"
