"""The parse floor: read every dump and parse its body with lxml, nothing else.

No converter can do less than this per file, so feedclean's time over the
floor's is the price of everything it does beyond parsing. The parser is set
up as feedclean's is (UTF-8, comments and processing instructions dropped).

Usage: python floor.py IN_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

from common import dump_files, report, split_dump
from lxml import etree

PARSER = etree.HTMLParser(encoding="utf-8", remove_comments=True, remove_pis=True, no_network=True, default_doctype=False)


def main(input_dir: Path) -> None:
    """Parse every dump's body; count those lxml gives no tree for as failed."""
    docs = failed = 0
    for path, _ in dump_files(input_dir):
        _, body = split_dump(path.read_bytes())
        docs += 1
        if etree.fromstring(body, PARSER) is None:
            failed += 1
    report(docs, failed)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
