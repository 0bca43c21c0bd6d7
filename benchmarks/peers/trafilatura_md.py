"""Peer: trafilatura's Markdown extraction, one whole process over a folder.

trafilatura is the usual answer to "get the article out of this HTML", so it
is the speed bar feedclean is held to. It runs with links and images kept (as
feedclean keeps them) and without metadata extraction, its fastest setting
that still produces a comparable article body.

Usage: python trafilatura_md.py IN_DIR OUT_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

import trafilatura
from common import dump_files, report, split_dump, write_markdown


def main(input_dir: Path, output_dir: Path) -> None:
    """Extract every dump to OUT_DIR; an empty extraction or an exception counts as failed."""
    docs = failed = 0
    for path, relative in dump_files(input_dir):
        url, body = split_dump(path.read_bytes())
        docs += 1
        try:
            markdown = trafilatura.extract(
                body.decode("utf-8"), url=url, output_format="markdown", include_links=True, include_images=True
            )
        except Exception:  # a peer's bug must cost one input, as in feedclean
            markdown = None
        if markdown is None:
            failed += 1
        write_markdown(output_dir, relative, markdown or "")
    report(docs, failed)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
