"""The samples against their reviewed outputs in tests/golden/.

After a deliberate change of output, regenerate with
    FEEDCLEAN_UPDATE_GOLDEN=1 pytest tests/test_golden.py
and review the diff before committing it.
"""

from __future__ import annotations

import os

import pytest
from conftest import GOLDEN, SAMPLES

import feedclean

UPDATE = os.environ.get("FEEDCLEAN_UPDATE_GOLDEN") == "1"
SAMPLE_FILES = sorted(p for p in SAMPLES.iterdir() if p.is_file() and not p.name.startswith("."))


@pytest.mark.parametrize("output_format", ["md", "json"])
@pytest.mark.parametrize("sample", SAMPLE_FILES, ids=lambda p: p.name)
def test_sample_matches_golden(sample, output_format):
    produced = feedclean.convert_bytes(sample.read_bytes(), output_format, name=str(sample))
    golden = GOLDEN / f"{sample.stem}.{output_format}"
    if UPDATE:
        golden.write_text(produced, encoding="utf-8")
    assert golden.exists(), f"no golden file {golden}; run with FEEDCLEAN_UPDATE_GOLDEN=1 and review it"
    assert produced == golden.read_text(encoding="utf-8")


def test_every_sample_has_golden_files():
    names = {p.name for p in GOLDEN.iterdir()}
    for sample in SAMPLE_FILES:
        assert {f"{sample.stem}.md", f"{sample.stem}.json"} <= names
