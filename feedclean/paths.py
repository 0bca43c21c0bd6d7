"""Finding inputs and naming outputs: what a folder holds, what `--glob` keeps, where each output goes.

Paths stay strings here (pathlib costs more than the work on a re-run of
thousands of unchanged files), and they may hold bytes that are not UTF-8:
`display_path` makes any of them printable on one line.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

# The output formats, and the suffix each output file gets.
SUFFIXES = {"md": ".md", "json": ".json"}
FORMATS = tuple(SUFFIXES)
# How every output of each format begins (render.py writes them): an output file the state
# does not know is overwritten only when it starts so, so it cannot be someone else's file.
OUTPUT_STARTS = {"md": b"---\ntitle: ", "json": b'{\n  "schema": '}
# Characters that would break a one-line message: controls (newlines, escapes).
_UNPRINTABLE = {code: f"\\x{code:02x}" for code in (*range(0x20), 0x7F)}


@dataclass(frozen=True, slots=True)
class Found:
    """An input `discover` found: where it is, the relative path its output mirrors, the key
    the state knows it by (its real path), and why it cannot be converted, if it cannot."""

    path: str
    relative: str
    key: str
    problem: str | None = None
    # Another input beside it has the same stem (a.txt, a.html), so their outputs (a.md) may clash.
    shares_stem: bool = True


def _stem_of(name: str) -> str:
    """A file name without its suffix, as pathlib reads it ("a.tar.gz" → "a.tar", ".x" and "x." kept)."""
    dot = name.rfind(".")
    return name[:dot] if 0 < dot < len(name) - 1 else name


def display_path(path: str) -> str:
    """A path as it can be shown in a one-line message: controls and undecodable bytes escaped."""
    if path.isprintable():
        return path
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace").translate(_UNPRINTABLE)


def discover(paths: Iterable[Path], output_dir: Path, globs: tuple[str, ...] = ()) -> Iterator[Found]:
    """Inputs in a stable order (a folder's files before its subfolders), each root once.

    In a folder every regular, non-hidden file is an input (hidden folders
    are skipped too), and the output folder is never entered. Folders that
    cannot be read, and symlinks leading out of their folder, are reported.
    """
    output_id = _identity(os.fspath(output_dir))
    roots: set[str] = set()
    for root in paths:
        path = os.fspath(root)
        real = os.path.realpath(path)
        if real in roots:
            continue
        roots.add(real)
        if os.path.isdir(path):
            yield from _walk(path, real, "", output_id, globs)
        else:
            yield Found(path, os.path.basename(path), real)


def _walk(folder: str, real: str, prefix: str, output_id: tuple[int, int] | None, globs: tuple[str, ...]) -> Iterator[Found]:
    """One folder's files (sorted), then its subfolders'. Only names are kept while the folder
    is read (a folder of 50,000 dumps costs their names, not 50,000 directory entries)."""
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
        yield Found(folder, prefix, real, problem=f"cannot read folder: {error.strerror or error}")
        return
    files.sort()
    stems = Counter(map(_stem_of, files))
    for name in files:
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
        yield Found(path, relative, key, shares_stem=stems[_stem_of(name)] > 1)
    for name in sorted(folders):
        path = os.path.join(folder, name)
        if _identity(path) != output_id:
            yield from _walk(path, f"{real}{os.sep}{name}", f"{prefix}{name}/", output_id, globs)


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


def _identity(path: str) -> tuple[int, int] | None:
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_dev, status.st_ino


def output_names(relative: str, suffix: str) -> tuple[str, str]:
    """The output file for a dump (IN/a/b.txt → a/b.md) and the folder for a feed's items (a/b/)."""
    folder, _, name = relative.rpartition("/")
    stem = f"{folder}/{_stem_of(name)}" if folder else _stem_of(name)
    return f"{stem}{suffix}", f"{stem}/"
