"""What the peer scripts share: feedclean's inputs, found and split the way feedclean does.

Each peer runs as one process over a whole folder, as `feedclean convert`
does, so the comparison includes interpreter start-up, imports and file I/O.
The files, their order and where the body starts must match what feedclean
sees, or the peers would not be doing the same work.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

# The header ends at the rule line; the benchmark corpus is well-formed (LF, UTF-8, no BOM).
_RULE = b"\n------\n"


def dump_files(folder: Path) -> Iterator[tuple[Path, Path]]:
    """Every regular, non-hidden file under `folder` in feedclean's order, with its path inside `folder`."""
    for parent, folders, files in os.walk(folder):
        folders[:] = sorted(name for name in folders if not name.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                path = Path(parent, name)
                yield path, path.relative_to(folder)


def split_dump(data: bytes) -> tuple[str | None, bytes]:
    """The article URL from the dump's header (None without one) and the HTML body."""
    header, rule, body = data.partition(_RULE)
    if not rule:
        return None, data
    title_line = header.rstrip().rsplit(b"\n", 1)[-1]
    _, bracket, url = title_line.rpartition(b"](")
    return (url.rstrip(b")").decode() if bracket else None), body.lstrip(b"\n")


def write_markdown(output_dir: Path, relative: Path, text: str) -> None:
    """Write one article where feedclean would: OUT/a/b.txt becomes OUT/a/b.md."""
    path = output_dir / relative.with_suffix(".md")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def report(docs: int, failed: int) -> None:
    """Tell run.py on stdout how many files were processed, so a short run cannot pass for a fast one."""
    json.dump({"docs": docs, "failed": failed}, sys.stdout)
    sys.stdout.write("\n")
