"""Build a benchmark corpus: thousands of distinct dumps made from the real samples.

Copies of one file would flatter any cache (feedclean's content hashes, the
page cache, CPU branch predictors) and say nothing about size variation, so
every dump differs: its fetch time, title and URL carry its number, and its
paragraphs are shuffled, one dropped or doubled. The first and last paragraph
stay in place because they carry what extraction looks for (an RFI lead, a DW
copyright line). Generation is deterministic for a given seed and set of
samples, and dump N is the same whatever the corpus size, so a 1,000-file
corpus is the start of a 20,000-file one.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

# Bump when the generated dumps change, so stale corpora are rebuilt.
GENERATOR_VERSION = 1
# How much later than the sample's own fetch time a variant may be fetched.
_MAX_FETCH_SHIFT_MS = 30 * 24 * 3600 * 1000
_HEADER = re.compile(r"<!--(\d+)-->\n\[(.*)\]\((\S+)\)\n-{3,}\n\n", re.DOTALL)
_PARAGRAPH = re.compile(r"<p(?:\s[^>]*)?>.*?</p>", re.DOTALL)


@dataclass(frozen=True)
class Sample:
    """One real dump, split where the variants differ."""

    name: str
    digest: str  # of the file, so a corpus is rebuilt when its samples change
    fetched_ms: int
    title: str
    url: str
    # The body cut around its <p> elements: text[0], p[0], text[1], p[1], …, text[-1].
    between: list[str]
    paragraphs: list[str]


def load_samples(folder: Path) -> list[Sample]:
    """The real article dumps in `folder`, in name order: UTF-8, with the dump header and three <p> or more.

    The folder also holds inputs for the tests and the docs' examples (feed files,
    whole web pages, legacy encodings, bare fragments). They are skipped: the
    peers only read dumps, and the benchmark measures the common case.
    """
    samples = []
    for path in sorted(folder.iterdir()):
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, IsADirectoryError):
            continue
        header = _HEADER.match(text)
        if header is None:
            continue
        body = text[header.end() :]
        paragraphs = [match.group(0) for match in _PARAGRAPH.finditer(body)]
        if len(paragraphs) < 3:
            continue
        digest = hashlib.sha256(text.encode()).hexdigest()
        fetched, title, url = int(header.group(1)), header.group(2), header.group(3)
        samples.append(Sample(path.name, digest, fetched, title, url, _PARAGRAPH.split(body), paragraphs))
    if not samples:
        raise ValueError(f"no UTF-8 dump with a header and three paragraphs in {folder}")
    return samples


def variant(sample: Sample, number: int, seed: int) -> str:
    """Dump `number` of the corpus, made from `sample`: distinct, but the same kind of article."""
    rng = random.Random(f"{seed}:{number}")
    fetched = sample.fetched_ms + rng.randrange(_MAX_FETCH_SHIFT_MS)
    parts = urlsplit(sample.url)
    url = urlunsplit(parts._replace(path=f"{parts.path.rstrip('/')}-{number}"))
    middle = sample.paragraphs[1:-1]
    rng.shuffle(middle)
    changed = rng.randrange(len(middle))
    if rng.random() < 0.5:
        middle[changed] = ""
    else:
        middle[changed] += rng.choice(middle)
    paragraphs = [sample.paragraphs[0], *middle, sample.paragraphs[-1]]
    body = "".join(text + paragraph for text, paragraph in zip(sample.between, paragraphs, strict=False)) + sample.between[-1]
    return f"<!--{fetched}-->\n[{sample.title} ({number})]({url})\n------\n\n{body}"


def build_corpus(samples: list[Sample], folder: Path, count: int, seed: int) -> Path:
    """Make `folder` hold exactly `count` dumps made from `samples`; reuse it when it already does.

    A stamp beside the folder (not inside it, where it would be an input)
    records what the corpus was made from; a missing or different stamp means
    the folder is rebuilt from scratch.
    """
    stamp = folder.with_name(folder.name + ".json")
    recipe = {"generator": GENERATOR_VERSION, "seed": seed, "count": count, "samples": [s.digest for s in samples]}
    if folder.is_dir() and stamp.is_file() and json.loads(stamp.read_text()) == recipe:
        return folder
    stamp.unlink(missing_ok=True)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for number in range(count):
        text = variant(samples[number % len(samples)], number, seed)
        (folder / f"dump-{number:06d}.txt").write_text(text, encoding="utf-8")
    stamp.write_text(json.dumps(recipe) + "\n")
    return folder
