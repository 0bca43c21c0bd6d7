"""Helpers for test_batch.py: a varied corpus of dumps, running the real CLI, and reading output trees.

The batch tests run `python -m feedclean convert` as a child process, as cron
does, so locks, signals, pipes and the state file are the real ones.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
# The two real dumps (DW, RFI) the corpora are built from; other samples test other things.
REAL_DUMPS = ("000_005ff02dac068fcc.txt", "003_1fddeb10f9e1ef9b.txt")
STATE_DIR = ".feedclean"
STATE_FILE = Path(STATE_DIR) / "state.sqlite3"
TEMP_SUFFIX = ".feedclean-tmp"
COMMAND = [sys.executable, "-m", "feedclean", "convert"]
# A user's own ~/.config/feedclean/rules.toml must not change what the tests see.
ENV = {**os.environ, "XDG_CONFIG_HOME": str(Path(__file__).resolve().parent / "no-user-config")}

# One summary line per run; the optional parts appear only when non-zero.
SUMMARY = re.compile(
    r"^feedclean: (?P<converted>\d+) converted, (?P<unchanged>\d+) unchanged, (?P<failed>\d+) failed"
    r"(?:, (?P<deferred>\d+) deferred)?(?:, (?P<merged>\d+) duplicates merged)? in \d+\.\d+ s$"
)
_HEADER = re.compile(r"\A<!--(\d+)-->\n\[(.*)\]\((.*)\)\n-+\n\n", re.DOTALL)

# Sentences swapped into the bodies so no two dumps in a corpus convert alike.
_PHRASES = (
    "Reporters confirmed the figures on Tuesday.",
    "The ministry did not reply to a request for comment.",
    "Officials said talks would resume next week.",
    "分析人士认为，这一决定将产生深远影响。",
    "當地媒體報導，相關討論仍在進行中。",
    "The vote was postponed until further notice.",
)


@dataclass(frozen=True)
class Sample:
    """A real dump cut into its header fields and its HTML body."""

    fetched: int
    title: str
    url: str
    body: str


def load_samples() -> list[Sample]:
    samples = []
    for name in REAL_DUMPS:
        text = (SAMPLES / name).read_text(encoding="utf-8")
        match = _HEADER.match(text)
        assert match, f"{name} is not in the dump format"
        samples.append(Sample(int(match[1]), match[2], match[3], text[match.end() :]))
    return samples


def dump_text(sample: Sample, index: int, url: str | None = None, fetched: int | None = None) -> str:
    """Dump number `index`: the sample with its own title, URL, fetch time and an extra paragraph."""
    url = url or f"{sample.url.rsplit('/', 1)[0]}/story-{index}"
    fetched = fetched if fetched is not None else sample.fetched + index * 60_000
    paragraph = f"<p>{_PHRASES[index % len(_PHRASES)]} (item {index})</p>"
    return f"<!--{fetched}-->\n[{sample.title} #{index}]({url})\n------\n\n{paragraph}{sample.body}"


def make_corpus(folder: Path, count: int, subfolders: int = 4) -> list[Path]:
    """`count` distinct dumps built from the samples, spread over a few subfolders.

    Some are saved as older scrapers do (CRLF, a BOM, GB18030), so parallel
    runs are compared on more than one code path. Those are the ones whose
    index ends in 1, 4 and 9; tests that edit inputs pick other ones.
    """
    samples = load_samples()
    paths = []
    for index in range(count):
        path = folder / f"feed{index % subfolders}" / f"{index:05d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        text = dump_text(samples[index % len(samples)], index)
        if index % 10 == 1:
            data = text.replace("\n", "\r\n").encode()
        elif index % 10 == 4:
            data = b"\xef\xbb\xbf" + text.encode()
        elif index % 10 == 9:
            data = text.encode("gb18030")
        else:
            data = text.encode()
        path.write_bytes(data)
        paths.append(path)
    return paths


def convert(
    *arguments: object, command: tuple[str, ...] = tuple(COMMAND), env: dict | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run `feedclean convert ARGUMENTS` with stdout and stderr captured (so neither is a terminal)."""
    return subprocess.run(
        [*command, *map(str, arguments)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        timeout=timeout,
        check=False,
        env=env or ENV,
    )


def start(*arguments: object) -> subprocess.Popen[str]:
    """Start `feedclean convert ARGUMENTS` in its own process group, so the test can pause or kill all of it."""
    return subprocess.Popen(
        [*COMMAND, *map(str, arguments)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        errors="replace",
        env=ENV,
        start_new_session=True,
    )


def wait_for_outputs(folder: Path, count: int, process: subprocess.Popen, timeout: float = 120) -> None:
    """Return once `folder` holds `count` .md files; fail if the run ends or stalls first."""
    deadline = time.monotonic() + timeout
    while sum(1 for _ in folder.rglob("*.md")) < count:
        assert process.poll() is None, "the run ended before the test could catch it midway; use a larger corpus"
        assert time.monotonic() < deadline, f"fewer than {count} outputs after {timeout} s"
        time.sleep(0.01)


def summary_of(result: subprocess.CompletedProcess[str]) -> dict[str, int]:
    """The counts of the run's one summary line on stderr; fails the test unless there is exactly one."""
    matches = [m for m in map(SUMMARY.match, result.stderr.splitlines()) if m]
    assert len(matches) == 1, f"expected one summary line, got stderr:\n{result.stderr}\nstdout:\n{result.stdout}"
    return {name: int(value or 0) for name, value in matches[0].groupdict().items()}


def outputs(folder: Path) -> dict[str, bytes]:
    """Every file under the output folder but its state folder, by relative path."""
    return {path: (folder / path).read_bytes() for path in _files(folder)}


def stamps(folder: Path) -> dict[str, tuple[int, int, int]]:
    """(inode, size, mtime in ns) of every output file: any rewrite, even an identical one, changes it."""
    result = {}
    for path in _files(folder):
        status = os.stat(folder / path)
        result[path] = (status.st_ino, status.st_size, status.st_mtime_ns)
    return result


def temporary_files(folder: Path) -> list[str]:
    return sorted(path for path in _files(folder, skip_state=False) if path.endswith(TEMP_SUFFIX))


def _files(folder: Path, skip_state: bool = True) -> list[str]:
    found = []
    for root, folders, files in os.walk(folder):
        if skip_state:
            folders[:] = [name for name in folders if name != STATE_DIR]
        found.extend(Path(root, name).relative_to(folder).as_posix() for name in files)
    return sorted(found)


# inotify(7) event bits, and the layout of one event before its name.
IN_MODIFY = 0x2
IN_MOVED_FROM = 0x40
IN_MOVED_TO = 0x80
IN_CREATE = 0x100
IN_Q_OVERFLOW = 0x4000
_IN_NONBLOCK = os.O_NONBLOCK
_EVENT = struct.Struct("iIII")


@dataclass(frozen=True)
class FileEvent:
    folder: Path
    mask: int
    cookie: int
    name: str


class WriteWatch:
    """Records, through Linux inotify, every file created, modified or renamed in some folders.

    It shows how a run writes its outputs, which no look at the finished
    files can: whether a *.md name was ever open for writing or only renamed into place.
    """

    def __init__(self, folders: list[Path]) -> None:
        self._libc = ctypes.CDLL(None, use_errno=True)
        self._fd = self._libc.inotify_init1(_IN_NONBLOCK)
        if self._fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        self._folders = {}
        for folder in folders:
            watch = self._libc.inotify_add_watch(
                self._fd, os.fsencode(folder), IN_MODIFY | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE
            )
            if watch < 0:
                raise OSError(ctypes.get_errno(), "inotify_add_watch", str(folder))
            self._folders[watch] = folder

    def events(self) -> list[FileEvent]:
        """Every event so far, in order; then stops watching."""
        data = bytearray()
        with contextlib.suppress(BlockingIOError):
            while chunk := os.read(self._fd, 1 << 16):
                data += chunk
        os.close(self._fd)
        found, offset = [], 0
        while offset < len(data):
            watch, mask, cookie, length = _EVENT.unpack_from(data, offset)
            name = bytes(data[offset + _EVENT.size : offset + _EVENT.size + length]).rstrip(b"\0")
            found.append(FileEvent(self._folders.get(watch, Path()), mask, cookie, os.fsdecode(name)))
            offset += _EVENT.size + length
        return found
