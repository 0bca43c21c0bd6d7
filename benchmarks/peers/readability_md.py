"""Peer: readability-lxml to find the article, then markdownify to turn it into Markdown.

This is the do-it-yourself pipeline people assemble from the two best-known
libraries; feedclean itself uses readability-lxml only for whole web pages.

Usage: python readability_md.py IN_DIR OUT_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

from common import dump_files, report, split_dump, write_markdown
from markdownify import markdownify
from readability import Document


def main(input_dir: Path, output_dir: Path) -> None:
    """Convert every dump to OUT_DIR; an exception counts as failed."""
    docs = failed = 0
    for path, relative in dump_files(input_dir):
        url, body = split_dump(path.read_bytes())
        docs += 1
        try:
            html = Document(body.decode("utf-8"), url=url).summary(html_partial=True)
            markdown = markdownify(html, heading_style="ATX")
        except Exception:  # a peer's bug must cost one input, as in feedclean
            failed += 1
            markdown = ""
        write_markdown(output_dir, relative, markdown)
    report(docs, failed)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
