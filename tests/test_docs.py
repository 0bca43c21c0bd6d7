"""The README and docs/*.md: every example runs, every link leads somewhere, the README stays one screen.

The examples' convention (docs/development.md, "The examples in the docs", says the same for
writers):

- Fenced blocks tagged `sh` run, each as one bash script under `set -euo pipefail`, and must
  exit 0 within TIMEOUT seconds. Blocks tagged `python` run as a script of the interpreter
  running these tests, under the same conditions.
- Each runs in a fresh temporary folder that holds a copy of `samples/` and nothing else from
  the repository, with this interpreter's bin folder (the installed `feedclean`) first on PATH,
  and HOME pointed at that folder with XDG_CONFIG_HOME unset, so no user rules file leaks in.
- A `pip install …` line, or a `pip install … &&` before a command, is skipped: feedclean is
  installed already. A line that runs `pytest` is skipped: that is this suite, and `.ci/run`
  runs the README's line as written (checked below).
- A block whose first line is `# needs: MODULE` is skipped when MODULE is not importable.
- Blocks tagged console, text, markdown, toml, json or crontab are shown, not run. No tag, or
  another one, fails: a writer who expects a block to run must not be silently ignored.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest
from conftest import ROOT, SAMPLES

README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
SETUP = "pip install . && feedclean convert samples/ -o out/\npip install '.[test]' && pytest\n"
README_MAX_LINES = 80
TIMEOUT = 60

RUN = {"sh": ["bash", "-c"], "python": [sys.executable, "-c"]}
SHOWN = {"console", "text", "markdown", "toml", "json", "crontab"}

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})\s*([^\s`]*)")
_PIP = re.compile(r"^\s*pip install\b[^&]*(?:&&\s*|$)")
_NEEDS = re.compile(r"#\s*needs:\s*(.+)")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


class Block(NamedTuple):
    page: Path
    line: int  # of the opening fence, 1-based
    tag: str
    text: str

    @property
    def name(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def _split(page: Path) -> tuple[list[Block], list[str]]:
    """The page's fenced blocks, and its prose lines (blocks blanked, so line numbers hold)."""
    blocks, prose = [], []
    fence, start, tag, body = None, 0, "", []
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
        opening = _FENCE.match(line)
        if fence is None and opening:
            fence, start, tag, body = opening.group(1), number, opening.group(2), []
            prose.append("")
        elif fence is not None and line.strip().startswith(fence[0] * len(fence)) and not line.strip(fence[0] + " "):
            blocks.append(Block(page, start, tag, "".join(f"{text}\n" for text in body)))
            fence = None
            prose.append("")
        elif fence is not None:
            body.append(line)
            prose.append("")
        else:
            prose.append(line)
    assert fence is None, f"{page.relative_to(ROOT)}:{start}: a fenced block that never closes"
    return blocks, prose


BLOCKS = [block for page in PAGES for block in _split(page)[0]]


def _runnable(text: str) -> str:
    """The block as the tests run it: pip installs and pytest left out, the rest as written."""
    lines = []
    for line in text.splitlines():
        command = _PIP.sub("", line, count=1)
        lines.append("" if command.lstrip().startswith("pytest") or not command.strip() else command)
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.tag in RUN], ids=lambda block: block.name)
def test_example_runs(block, tmp_path):
    first = block.text.split("\n", 1)[0]
    needs = _NEEDS.fullmatch(first.strip())
    if needs:
        missing = [name for name in re.split(r"[\s,]+", needs.group(1).strip()) if importlib.util.find_spec(name) is None]
        if missing:
            pytest.skip(f"needs {', '.join(missing)}")
    shutil.copytree(SAMPLES, tmp_path / "samples")
    env = {**os.environ, "HOME": str(tmp_path), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("XDG_CONFIG_HOME", None)
    script = _runnable(block.text)
    if block.tag == "sh":
        script = "set -euo pipefail\n" + script
    # A session of its own, so a timeout kills the block's children too (feedclean's workers).
    process = subprocess.Popen(
        [*RUN[block.tag], script],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        encoding="utf-8",
        errors="replace",
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail(f"{block.name}: still running after {TIMEOUT} s")
    assert process.returncode == 0, f"{block.name} exited {process.returncode}\n{stderr[-3000:]}\n{stdout[-2000:]}"


def test_every_block_says_whether_it_runs():
    unknown = [f"{block.name}: {block.tag or '(no tag)'}" for block in BLOCKS if block.tag not in RUN and block.tag not in SHOWN]
    assert not unknown, "tag each block sh or python (run) or one of " + ", ".join(sorted(SHOWN)) + f" (shown): {unknown}"


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text lower-cased, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    anchors, seen = set(), {}
    for line in _split(page)[1]:
        heading = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if heading:
            slug = _slug(heading.group(1))
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def _links(page: Path) -> list[tuple[int, str]]:
    """Each inline link's target, outside code: a link written inside backticks is no link."""
    found = []
    for number, line in enumerate(_split(page)[1], 1):
        prose = re.sub(r"(`+).*?\1", "", line)
        found += [(number, target) for target in re.findall(r"\]\(\s*<?([^)\s>]*)", prose)]
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_links_lead_somewhere(page):
    broken = []
    for number, target in _links(page):
        if _SCHEME.match(target):
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        where = f"{page.relative_to(ROOT)}:{number}: {target}"
        if not linked.exists():
            broken.append(f"{where}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
            broken.append(f"{where}: no heading #{anchor} in {linked.name}")
    assert not broken, "\n".join(broken)


def test_the_readme_starts_with_the_two_set_up_commands_and_fits_a_screen():
    text = README.read_text(encoding="utf-8")
    first = BLOCKS[0]
    assert first.page == README and first.tag == "sh" and first.text == SETUP
    assert text.startswith(f"# feedclean\n\n```sh\n{SETUP}```\n")
    assert len(text.splitlines()) <= README_MAX_LINES


def test_ci_runs_the_readme_test_command_as_written():
    """The examples test skips the README's `pytest` line, so CI is what keeps it true."""
    assert SETUP.splitlines()[1] in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
