"""Shared helpers: building dumps for cases, and the CommonMark parser used to check output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
CASES = Path(__file__).resolve().parent / "cases"
GOLDEN = Path(__file__).resolve().parent / "golden"

DEFAULT_URL = "https://example.com/news/a-1"
DEFAULT_FETCHED = 1712180702000


def make_dump(body: str, title: str = "A title", url: str = DEFAULT_URL, fetched: int | None = DEFAULT_FETCHED) -> str:
    """A dump in the scrapers' format around `body`."""
    header = f"<!--{fetched}-->\n" if fetched is not None else ""
    return f"{header}[{title}]({url})\n------\n\n{body}"


def load_cases(name: str) -> list[dict]:
    return yaml.safe_load((CASES / name).read_text(encoding="utf-8"))


def split_front_matter(markdown: str) -> tuple[dict, str]:
    """Parse an output .md file: (front matter as a dict, body)."""
    assert markdown.startswith("---\n"), markdown[:80]
    end = markdown.index("\n---\n", 4)
    front = yaml.safe_load(markdown[4:end])
    return front, markdown[end + 5 :].lstrip("\n")


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    """A CliRunner that sees no user rules file unless a test writes one (in tmp_path/config)."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return CliRunner()


@pytest.fixture(scope="session")
def samples() -> list[Path]:
    return sorted(p for p in SAMPLES.iterdir() if p.is_file() and not p.name.startswith("."))


def as_json(text: str) -> dict:
    return json.loads(text)
