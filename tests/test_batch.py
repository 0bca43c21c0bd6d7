"""The batch runner as cron uses it: real `feedclean convert` processes over folders of dumps.

Everything here runs the CLI as a child process (no mocks), because what the
issue asks for only exists between processes: the state file surviving a
run, a lock held by another process, a SIGKILL, pipes that are not
terminals, a file another process is still writing.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import pytest
from batch_helpers import (
    COMMAND,
    ENV,
    IN_MOVED_FROM,
    IN_MOVED_TO,
    IN_Q_OVERFLOW,
    REAL_DUMPS,
    SAMPLES,
    STATE_FILE,
    TEMP_SUFFIX,
    WriteWatch,
    convert,
    dump_text,
    load_samples,
    make_corpus,
    outputs,
    stamps,
    start,
    summary_of,
    temporary_files,
    wait_for_outputs,
)
from conftest import split_front_matter

# Shared read-only corpora: big enough to catch a run midway, small enough to keep the file quick.
CORPUS_SIZE = 300
BIG_CORPUS_SIZE = 1000
# Per-test corpora for tests that change inputs or outputs.
SMALL = 24

ERROR_LINE = re.compile(r"^feedclean: error: (?P<input>.+?): (?P<reason>.+)$")
ESCAPE_SEQUENCE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\x1b[()][0-9A-B]")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """A folder of varied dumps that no test changes."""
    folder = tmp_path_factory.mktemp("corpus")
    make_corpus(folder, CORPUS_SIZE)
    return folder


@pytest.fixture(scope="module")
def reference(corpus, tmp_path_factory) -> dict[str, bytes]:
    """What one clean, serial run makes of `corpus`: the bytes every other run must match."""
    out = tmp_path_factory.mktemp("reference") / "out"
    result = convert(corpus, "-o", out, "-j", "1")
    assert result.returncode == 0, result.stderr
    made = outputs(out)
    assert len(made) == CORPUS_SIZE
    return made


@pytest.fixture(scope="module")
def big_corpus(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("big-corpus")
    make_corpus(folder, BIG_CORPUS_SIZE)
    return folder


@pytest.fixture(scope="module")
def big_reference(big_corpus, tmp_path_factory) -> dict[str, bytes]:
    out = tmp_path_factory.mktemp("big-reference") / "out"
    result = convert(big_corpus, "-o", out, "-j", "1")
    assert result.returncode == 0, result.stderr
    return outputs(out)


@pytest.fixture
def small(tmp_path) -> tuple[Path, list[Path]]:
    """A corpus of this test's own, which it may change: (folder, inputs)."""
    folder = tmp_path / "in"
    return folder, make_corpus(folder, SMALL)


def output_for(inputs: Path, out: Path, path: Path, suffix: str = ".md") -> Path:
    """The output file that mirrors input `path`."""
    return out / path.relative_to(inputs).with_suffix(suffix)


# --- incremental runs -------------------------------------------------------------------------


def test_second_run_converts_nothing_and_rewrites_nothing(small, tmp_path):
    """The cron case: most runs find nothing new, and must not touch a single output file."""
    inputs, _ = small
    out = tmp_path / "out"
    first = convert(inputs, "-o", out)
    assert first.returncode == 0, first.stderr
    assert summary_of(first)["converted"] == SMALL
    assert (out / STATE_FILE).read_bytes().startswith(b"SQLite format 3\x00")
    before = stamps(out)
    assert len(before) == SMALL

    second = convert(inputs, "-o", out)

    assert second.returncode == 0, second.stderr
    counts = summary_of(second)
    assert (counts["converted"], counts["unchanged"], counts["failed"]) == (0, SMALL, 0)
    assert stamps(out) == before


def test_touched_input_is_not_converted_but_edited_input_is(small, tmp_path):
    """mtime alone is not a change (backups, rsync, scrapers re-saving); content is, even at the same size."""
    inputs, paths = small
    out = tmp_path / "out"
    assert convert(inputs, "-o", out).returncode == 0
    touched, edited = paths[3], paths[7]
    later = touched.stat().st_mtime_ns + 5_000_000_000
    os.utime(touched, ns=(later, later))
    text = edited.read_text(encoding="utf-8")
    assert "(item 7)" in text
    edited.write_text(text.replace("(item 7)", "(ITEM 7)"), encoding="utf-8")  # same size, new content
    before = stamps(out)

    result = convert(inputs, "-o", out)

    assert result.returncode == 0, result.stderr
    counts = summary_of(result)
    assert (counts["converted"], counts["unchanged"]) == (1, SMALL - 1)
    edited_output = output_for(inputs, out, edited)
    after = stamps(out)
    assert {path for path in after if after[path] != before[path]} == {edited_output.relative_to(out).as_posix()}
    assert "(ITEM 7)" in edited_output.read_text(encoding="utf-8")
    assert summary_of(convert(inputs, "-o", out))["converted"] == 0


def test_md_and_json_are_separate_outputs_with_separate_state(small, tmp_path):
    """Switching --format converts again, and switching back finds the other format's outputs still current."""
    inputs, paths = small
    out = tmp_path / "out"
    assert summary_of(convert(inputs, "-o", out))["converted"] == SMALL
    markdown = stamps(out)

    as_json = convert(inputs, "-o", out, "--format", "json")

    assert as_json.returncode == 0, as_json.stderr
    assert summary_of(as_json)["converted"] == SMALL
    for path in paths:
        assert json.loads(output_for(inputs, out, path, ".json").read_text(encoding="utf-8"))["schema"] == 1
    again = convert(inputs, "-o", out)
    assert summary_of(again)["converted"] == 0
    assert {k: v for k, v in stamps(out).items() if k.endswith(".md")} == markdown
    assert summary_of(convert(inputs, "-o", out, "--format", "json"))["converted"] == 0


def test_force_converts_everything_to_the_same_bytes(small, tmp_path):
    inputs, _ = small
    out = tmp_path / "out"
    assert convert(inputs, "-o", out).returncode == 0
    before = outputs(out)

    forced = convert(inputs, "-o", out, "--force")

    assert forced.returncode == 0, forced.stderr
    assert summary_of(forced)["converted"] == SMALL
    assert outputs(out) == before


def test_changed_rules_or_tool_version_convert_again(small, tmp_path):
    """An unchanged input must be redone when the rules or feedclean itself could now render it differently.

    A new version is simulated by running the real CLI in an interpreter where
    `feedclean.__version__` is changed before the batch module reads it.
    """
    inputs, _ = small
    out = tmp_path / "out"
    assert convert(inputs, "-o", out).returncode == 0
    rules = tmp_path / "rules.toml"
    rules.write_text('[[rule]]\nhosts = ["dw.com"]\nstrip = [".no-such-element"]\n', encoding="utf-8")

    with_rules = convert(inputs, "-o", out, "--rules", rules)

    assert with_rules.returncode == 0, with_rules.stderr
    assert summary_of(with_rules)["converted"] == SMALL
    assert summary_of(convert(inputs, "-o", out, "--rules", rules))["converted"] == 0

    upgraded = (sys.executable, "-c", "import feedclean; feedclean.__version__ = '999.0'; from feedclean.cli import main; main()")
    new_version = convert("convert", inputs, "-o", out, "--rules", rules, command=upgraded)

    assert new_version.returncode == 0, new_version.stderr
    assert summary_of(new_version)["converted"] == SMALL


def test_a_replaced_output_or_report_keeps_its_permissions(small, tmp_path):
    """An output or a report made readable by its owner alone came back readable by all when replaced."""
    inputs, paths = small
    out, report = tmp_path / "out", tmp_path / "report.json"
    assert convert(inputs, "-o", out, "--report", report).returncode == 0
    edited = paths[7]
    output = output_for(inputs, out, edited)
    output.chmod(0o600)
    report.chmod(0o640)
    edited.write_text(edited.read_text(encoding="utf-8").replace("(item 7)", "(ITEM 7)"), encoding="utf-8")

    result = convert(inputs, "-o", out, "--report", report)

    assert result.returncode == 0, result.stderr
    assert "(ITEM 7)" in output.read_text(encoding="utf-8")
    assert (output.stat().st_mode & 0o7777, report.stat().st_mode & 0o7777) == (0o600, 0o640)
    assert output_for(inputs, out, paths[3]).stat().st_mode & 0o777 == 0o666 & ~current_umask()


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.parametrize("damage", ["delete", "garbage", "truncate"])
def test_lost_or_corrupt_state_costs_one_full_run(small, tmp_path, damage):
    """The state is a cache: without it, or with a broken one, the run still succeeds and rebuilds it."""
    inputs, _ = small
    out = tmp_path / "out"
    assert convert(inputs, "-o", out).returncode == 0
    before = outputs(out)
    state = out / STATE_FILE
    if damage == "delete":
        state.unlink()
    elif damage == "garbage":
        state.write_bytes(b"this is not an SQLite database " * 200)
    else:
        state.write_bytes(state.read_bytes()[: state.stat().st_size // 2])

    rebuilt = convert(inputs, "-o", out)

    assert rebuilt.returncode == 0, rebuilt.stderr
    assert summary_of(rebuilt)["converted"] == SMALL
    assert outputs(out) == before
    assert summary_of(convert(inputs, "-o", out))["converted"] == 0


def test_deleted_or_touched_outputs_are_written_again_and_edited_ones_are_left_alone(small, tmp_path):
    """The state must not vouch for an output that is no longer what the run wrote: a deleted one
    is written again, a touched one (same bytes) is still feedclean's, an edited one is yours."""
    inputs, paths = small
    out = tmp_path / "out"
    assert convert(inputs, "-o", out).returncode == 0
    expected = outputs(out)
    output_for(inputs, out, paths[0]).unlink()
    touched = output_for(inputs, out, paths[1])
    later = touched.stat().st_mtime_ns + 5_000_000_000
    os.utime(touched, ns=(later, later))
    same_size = output_for(inputs, out, paths[2])
    same_size.write_bytes(same_size.read_bytes().replace(b"title:", b"TITLE:", 1))
    edited = same_size.read_bytes()

    result = convert(inputs, "-o", out)

    assert result.returncode == 1, result.stderr
    counts = summary_of(result)
    assert (counts["converted"], counts["unchanged"], counts["failed"]) == (2, SMALL - 3, 1)
    assert f"its output {same_size} was changed since feedclean wrote it" in result.stderr
    assert outputs(out) == {**expected, same_size.relative_to(out).as_posix(): edited}
    same_size.unlink()
    assert summary_of(convert(inputs, "-o", out))["converted"] == 1
    assert outputs(out) == expected


# --- parallel runs ----------------------------------------------------------------------------


@pytest.mark.parametrize("jobs", [["-j", "2"], ["--jobs", "3"], []], ids=["j2", "jobs3", "default"])
def test_outputs_are_byte_identical_whatever_the_number_of_jobs(corpus, reference, tmp_path, jobs):
    out = tmp_path / "out"
    result = convert(corpus, "-o", out, *jobs)
    assert result.returncode == 0, result.stderr
    assert outputs(out) == reference


# --- atomic writes and killed runs -----------------------------------------------------------


@pytest.mark.parametrize("output_format", ["md", "json"])
def test_outputs_only_appear_by_rename_from_a_temporary_name(small, tmp_path, output_format):
    """Atomic writes seen as they happen: no *.md/*.json name is ever created or written to, only renamed onto.

    This is what makes a kill at any moment safe, and unlike a kill it does
    not depend on the moment: a single direct write would show up here.
    """
    inputs, _ = small
    out = tmp_path / "out"
    folders = [out, *(out / f"feed{n}" for n in range(4))]
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
    watch = WriteWatch(folders)

    result = convert(inputs, "-o", out, "--format", output_format)

    events = watch.events()
    assert result.returncode == 0, result.stderr
    assert not any(event.mask & IN_Q_OVERFLOW for event in events)
    final = [event for event in events if event.name.endswith((".md", ".json"))]
    assert [event for event in final if event.mask != IN_MOVED_TO] == []
    assert len({(event.folder, event.name) for event in final}) == SMALL
    sources = {(event.folder, event.cookie): event.name for event in events if event.mask & IN_MOVED_FROM}
    for event in final:
        source = sources.get((event.folder, event.cookie))
        assert source is not None, f"{event.name} was moved in from another folder"
        assert source.endswith(TEMP_SUFFIX)


@pytest.mark.parametrize(
    ("kill", "jobs"),
    [(signal.SIGKILL, 1), (signal.SIGKILL, 2), (signal.SIGTERM, 2)],
    ids=["sigkill-j1", "sigkill-j2", "sigterm-j2"],
)
def test_killed_midway_leaves_only_complete_files_and_the_next_run_finishes(big_corpus, big_reference, tmp_path, kill, jobs):
    """A run killed at any moment (OOM killer, `timeout`, reboot) leaves whole files only, and blocks nothing after it.

    Only the main process gets the signal, as from the OOM killer or `kill PID`;
    with -j 2 its worker processes must not outlive it holding the folder's lock.
    """
    out = tmp_path / "out"
    run = start(big_corpus, "-o", out, "-j", jobs)
    try:
        wait_for_outputs(out, BIG_CORPUS_SIZE * 3 // 5, run)
        os.kill(run.pid, kill)
        assert run.wait(timeout=30) != 0

        left = outputs(out)
        finished = [path for path in left if path.endswith((".md", ".json"))]
        assert 0 < len(finished) < BIG_CORPUS_SIZE
        for path in finished:
            assert left[path] == big_reference[path], f"{path} is incomplete or wrong after the kill"
        assert all(path.endswith(TEMP_SUFFIX) for path in set(left) - set(finished))

        rerun = convert(big_corpus, "-o", out, "--no-wait", "-j", jobs)

        assert rerun.returncode == 0, f"processes of the killed run still alive: {_survivors(run.pid)}\n{rerun.stderr}"
        counts = summary_of(rerun)
        assert counts["converted"] + counts["unchanged"] == BIG_CORPUS_SIZE
        assert temporary_files(out) == []
        assert outputs(out) == big_reference
        assert summary_of(convert(big_corpus, "-o", out, "-j", jobs))["converted"] == 0
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(run.pid, signal.SIGKILL)
        run.communicate(timeout=30)


def _survivors(group: int) -> list[int]:
    """Live processes (not zombies) of process group `group`, the killed run's."""
    return [pid for pid, state in _group_states(group).items() if state != "Z"]


def _group_states(group: int) -> dict[int, str]:
    """The state letter (R, S, T, Z …) of each process in process group `group`, from /proc."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                state, _, process_group = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:3]
                if int(process_group) == group:
                    found[int(entry.name)] = state
    return found


# --- one run at a time ------------------------------------------------------------------------


@contextlib.contextmanager
def paused_run(corpus: Path, out: Path):
    """A run caught holding `out`'s lock, frozen (SIGSTOP, workers too) so the overlap is certain; resumed on exit."""
    first = start(corpus, "-o", out)
    try:
        wait_for_outputs(out, 1, first)
        os.killpg(first.pid, signal.SIGSTOP)
        # The signal is only queued: wait until every process of the run has actually stopped.
        deadline = time.monotonic() + 30
        while any(state != "T" for state in _group_states(first.pid).values()):
            assert time.monotonic() < deadline, _group_states(first.pid)
            time.sleep(0.01)
        assert first.poll() is None
        yield first
    except BaseException:
        os.killpg(first.pid, signal.SIGKILL)
        first.communicate()
        raise
    os.killpg(first.pid, signal.SIGCONT)


def test_no_wait_exits_3_with_a_clear_message_while_another_run_writes(corpus, reference, tmp_path):
    out = tmp_path / "out"
    with paused_run(corpus, out) as first:
        before = stamps(out)
        second = convert(corpus, "-o", out, "--no-wait")
        assert second.returncode == 3, second.stderr
        assert second.stderr.count("\n") == 1
        assert "another run" in second.stderr and f"pid {first.pid}" in second.stderr and str(out) in second.stderr
        assert stamps(out) == before
    _, first_stderr = first.communicate(timeout=300)
    assert first.returncode == 0, first_stderr
    assert outputs(out) == reference


def test_waiting_run_starts_after_the_first_and_never_interleaves(corpus, reference, tmp_path):
    """With --wait (the default) the second run blocks until the first is done, then finds nothing to do."""
    out = tmp_path / "out"
    with paused_run(corpus, out) as first:
        before = stamps(out)
        second = start(corpus, "-o", out)
        with pytest.raises(subprocess.TimeoutExpired):
            second.wait(timeout=1.5)
        assert stamps(out) == before
    _, first_stderr = first.communicate(timeout=300)
    _, second_stderr = second.communicate(timeout=300)
    assert (first.returncode, second.returncode) == (0, 0), first_stderr + second_stderr
    assert f"pid {first.pid}" in second_stderr and "waiting" in second_stderr
    assert summary_of(_completed(first, first_stderr))["converted"] == CORPUS_SIZE
    counts = summary_of(_completed(second, second_stderr))
    assert (counts["converted"], counts["unchanged"]) == (0, CORPUS_SIZE)
    assert outputs(out) == reference


def test_two_runs_started_together_split_no_work(corpus, reference, tmp_path):
    """Started at the same instant, one run does everything and the other finds it done."""
    out = tmp_path / "out"
    runs = [start(corpus, "-o", out), start(corpus, "-o", out)]
    results = [_completed(run, run.communicate(timeout=300)[1]) for run in runs]
    assert [r.returncode for r in results] == [0, 0], [r.stderr for r in results]
    assert sorted(summary_of(r)["converted"] for r in results) == [0, CORPUS_SIZE]
    assert temporary_files(out) == []
    assert outputs(out) == reference


def _completed(process: subprocess.Popen, stderr: str) -> subprocess.CompletedProcess[str]:
    return subprocess.CompletedProcess(process.args, process.returncode, "", stderr)


# --- what cron mails: output off a terminal ---------------------------------------------------


def _add_bad_inputs(inputs: Path) -> dict[str, str]:
    """Bad files sorted among good ones, so a batch that stopped at the first would be caught: path → reason."""
    empty = inputs / "feed0" / "00000-empty.txt"
    empty.write_bytes(b"")
    binary = inputs / "feed1" / "00001-binary.txt"
    binary.write_bytes(b"\x00\x01\x02\x03PK\x03\x04" * 64)
    return {str(empty): "file is empty", str(binary): "binary file"}


def test_piped_output_is_plain_errors_one_line_each_then_one_summary(small, tmp_path):
    """Cron mails stdout and stderr: no escape codes even if TERM looks colourful, one line per failure."""
    inputs, paths = small
    bad = _add_bad_inputs(inputs)
    out = tmp_path / "out"
    colourful = {**ENV, "TERM": "xterm-256color", "COLORTERM": "truecolor"}

    result = convert(inputs, "-o", out, env=colourful)

    assert result.returncode == 1
    assert "\x1b" not in result.stdout + result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    errors = [m for m in map(ERROR_LINE.match, lines) if m]
    assert sorted(m["input"] for m in errors) == sorted(bad)
    for match in errors:
        assert match["reason"].startswith(bad[match["input"]])
    counts = summary_of(result)
    assert (counts["converted"], counts["failed"]) == (SMALL, 2)
    assert len(lines) == len(errors) + 1
    assert all(output_for(inputs, out, path).exists() for path in paths)


def test_quiet_prints_nothing_on_success_and_only_errors_on_failure(small, tmp_path):
    inputs, _ = small
    out = tmp_path / "out"
    quiet = convert(inputs, "-o", out, "-q")
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", "")

    bad = _add_bad_inputs(inputs)
    failing = convert(inputs, "-o", out, "-q")

    assert failing.returncode == 1
    assert failing.stdout == ""
    assert sorted(ERROR_LINE.match(line)["input"] for line in failing.stderr.splitlines()) == sorted(bad)


def test_report_file_has_counts_and_failures(small, tmp_path):
    """--report is what monitoring reads; it must agree with the run and list each failure."""
    inputs, _ = small
    bad = _add_bad_inputs(inputs)
    out = tmp_path / "out"
    report = tmp_path / "report.json"
    assert convert(inputs, "-o", out, "--report", report).returncode == 1

    second = convert(inputs, "-o", out, "--report", report)

    assert second.returncode == 1
    data = json.loads(report.read_text(encoding="utf-8"))
    assert (data["converted"], data["unchanged"], data["failed"]) == (0, SMALL, 2)
    assert sorted(f["input"] for f in data["failures"]) == sorted(bad)
    for failure in data["failures"]:
        assert failure["reason"].startswith(bad[failure["input"]])
    assert isinstance(data["seconds"], int | float)


def test_terminal_run_shows_progress_and_a_summary_table(small, tmp_path):
    """On a terminal the user gets the rich view; the pseudo-terminal makes isatty() true in the child."""
    inputs, _ = small
    status, screen = _run_on_terminal([*COMMAND, str(inputs), "-o", str(tmp_path / "out")])
    assert status == 0, screen
    text = ESCAPE_SEQUENCE.sub("", screen)
    assert "converting" in text
    assert "feedclean run" in text
    assert re.search(rf"converted\W+{SMALL}\b", text), text
    assert f"feedclean: {SMALL} converted, 0 unchanged, 0 failed in" in text


def _run_on_terminal(command: list[str]) -> tuple[int, str]:
    """Run `command` with stdout and stderr on a 120-column pseudo-terminal; (exit status, all it showed)."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    env = {**ENV, "TERM": "xterm-256color", "COLUMNS": "120"}
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=follower, stderr=follower, env=env)
    os.close(follower)
    shown = bytearray()
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            if not select.select([leader], [], [], 1)[0]:
                continue
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: every process holding the terminal is gone
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(leader)
    return process.wait(timeout=30), shown.decode("utf-8", "replace")


# --- duplicates and dry runs ------------------------------------------------------------------


def test_dedupe_keeps_the_latest_fetch_of_each_canonical_url(small, tmp_path):
    """Re-fetches of one article (tracking parameters differ) keep one output: the latest fetch, not the last name."""
    inputs, _ = small
    out = tmp_path / "out"
    sample = load_samples()[1]
    url = f"{sample.url.rsplit('/', 1)[0]}/story-again"
    fetched = sample.fetched + 10_000_000
    folder = inputs / "dups"
    folder.mkdir()
    copies = {
        "a.txt": (f"{url}?utm_source=rss", fetched + 1000),
        "b.txt": (f"{url}?utm_medium=feed&utm_campaign=daily", fetched + 3000),
        "c.txt": (url, fetched + 2000),
    }
    for index, (name, (address, when)) in enumerate(copies.items(), start=900):
        (folder / name).write_text(dump_text(sample, index, url=address, fetched=when), encoding="utf-8")

    first = convert(inputs, "-o", out, "--dedupe")

    assert first.returncode == 0, first.stderr
    counts = summary_of(first)
    assert (counts["converted"], counts["merged"]) == (SMALL + 3, 2)
    assert "2 duplicates merged" in first.stderr
    assert sorted(p.name for p in (out / "dups").iterdir()) == ["b.md"]
    front, _ = split_front_matter((out / "dups" / "b.md").read_text(encoding="utf-8"))
    assert front["url"] == url
    assert len(outputs(out)) == SMALL + 1

    again = summary_of(convert(inputs, "-o", out, "--dedupe"))
    assert (again["converted"], again["merged"]) == (0, 0)

    (folder / "d.txt").write_text(dump_text(sample, 903, url=f"{url}?utm_source=x", fetched=fetched + 5000), encoding="utf-8")
    newer = summary_of(convert(inputs, "-o", out, "--dedupe"))
    assert (newer["converted"], newer["merged"]) == (1, 1)
    assert sorted(p.name for p in (out / "dups").iterdir()) == ["d.md"]

    undone = convert(inputs, "-o", out)
    assert undone.returncode == 0, undone.stderr
    assert sorted(p.name for p in (out / "dups").iterdir()) == ["a.md", "b.md", "c.md", "d.md"]


def _dry_run_lines(result: subprocess.CompletedProcess[str]) -> set[tuple[str, str]]:
    """(reason, input) of each `REASON<TAB>INPUT -> OUTPUT` line a dry run prints."""
    lines = set()
    for line in result.stdout.splitlines():
        reason, _, rest = line.partition("\t")
        lines.add((reason, rest.split(" -> ")[0]))
    return lines


def test_dry_run_says_what_and_why_and_writes_nothing(small, tmp_path):
    inputs, paths = small
    out = tmp_path / "out"

    fresh = convert(inputs, "-o", out, "--dry-run")

    assert fresh.returncode == 0, fresh.stderr
    assert _dry_run_lines(fresh) == {("new", str(path)) for path in paths}
    assert not out.exists() or (outputs(out) == {} and not (out / STATE_FILE).exists())
    assert f"{SMALL} to convert" in fresh.stderr

    assert convert(inputs, "-o", out).returncode == 0
    edited, touched = paths[2], paths[5]
    edited.write_text(edited.read_text(encoding="utf-8") + "<p>Corrected.</p>", encoding="utf-8")
    later = touched.stat().st_mtime_ns + 5_000_000_000
    os.utime(touched, ns=(later, later))
    added = inputs / "feed0" / "99999.txt"
    added.write_text(dump_text(load_samples()[0], 99999), encoding="utf-8")
    before = stamps(out)

    planned = convert(inputs, "-o", out, "--dry-run")
    forced = convert(inputs, "-o", out, "--dry-run", "--force")

    assert planned.returncode == 0, planned.stderr
    assert _dry_run_lines(planned) == {("changed", str(edited)), ("new", str(added))}
    assert _dry_run_lines(forced) == {("forced", str(path)) for path in [*paths, added]}
    assert stamps(out) == before
    real = summary_of(convert(inputs, "-o", out))
    assert (real["converted"], real["unchanged"]) == (2, SMALL - 1)


def test_dry_run_names_a_feeds_folder_not_a_file(tmp_path):
    """A feed's items go to OUT/<stem>/: the dry run says so, before the first run and after it."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    feed = inputs / "news.xml"
    feed.write_bytes((SAMPLES / "feed_rss2.xml").read_bytes())
    (inputs / "today.txt").write_text(dump_text(load_samples()[0], 1), encoding="utf-8")
    out = tmp_path / "out"
    expected = {f"{inputs / 'news.xml'} -> {out / 'news'}/", f"{inputs / 'today.txt'} -> {out / 'today.md'}"}

    fresh = convert(inputs, "-o", out, "--dry-run")

    assert {line.partition("\t")[2] for line in fresh.stdout.splitlines()} == expected
    assert convert(inputs, "-o", out, "--settle", "0").returncode == 0
    feed.write_bytes(feed.read_bytes().replace(b"</channel>", b"<!-- edited --></channel>"))
    changed = convert(inputs, "-o", out, "--dry-run")
    assert changed.stdout == f"changed\t{inputs / 'news.xml'} -> {out / 'news'}/\n"


# --- an input the scraper is still writing ----------------------------------------------------


class Appender(threading.Thread):
    """Plays a scraper still writing a dump: appends a paragraph in two halves, about every half millisecond.

    The halves make every pause a half-written paragraph: even a moment when the
    file holds still is no complete version of it, so only a deferral is right.
    """

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.stop = threading.Event()
        self.written = 0

    def run(self) -> None:
        with self.path.open("ab", buffering=0) as handle:
            while not self.stop.is_set():
                handle.write(f"<p>Paragraph {self.written} begins".encode())
                time.sleep(0.0005)
                handle.write(f" and paragraph {self.written} ends.</p>".encode())
                self.written += 1
                time.sleep(0.0005)


@pytest.mark.parametrize("jobs", [1, 2])
def test_input_written_during_the_run_is_left_for_the_next_run(small, tmp_path, jobs):
    """Never an output from a half-written file: the old output stays, the next calm run converts the whole file.

    Deterministic in practice: the writer appends every ~0.5 ms, while reading
    and converting this large input takes tens of ms, so the file cannot look
    unchanged from the run's first look at it to its last.
    """
    inputs, _ = small
    out = tmp_path / "out"
    growing = inputs / "feed2" / "growing.txt"
    sample = load_samples()[0]
    growing.write_text(dump_text(sample, 500) + "<p>Filler paragraph of the long article.</p>" * 1500, encoding="utf-8")
    assert convert(inputs, "-o", out, "-j", jobs).returncode == 0
    growing_output = output_for(inputs, out, growing)
    before = stamps(out)

    appender = Appender(growing)
    appender.start()
    try:
        during = convert(inputs, "-o", out, "-j", jobs)
    finally:
        appender.stop.set()
        appender.join()

    assert appender.written > 0
    assert during.returncode == 0, during.stderr
    counts = summary_of(during)
    assert (counts["deferred"], counts["converted"], counts["failed"]) == (1, 0, 0)
    notes = [line for line in during.stderr.splitlines() if str(growing) in line]
    assert len(notes) == 1 and "next run" in notes[0]
    assert stamps(out) == before

    after = convert(inputs, "-o", out, "-j", jobs)

    assert summary_of(after)["converted"] == 1
    text = growing_output.read_text(encoding="utf-8")
    assert f"Paragraph {appender.written - 1} begins and paragraph {appender.written - 1} ends." in text


# --- memory -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_memory_stays_flat_as_inputs_grow(tmp_path):
    """Five times the inputs must not need much more memory: inputs are streamed, never listed.

    Peak RSS comes from wait4, which covers the run and its worker processes.
    The `slow` marker (about 15 s) lets `-m "not slow"` skip it.
    """
    peaks = {}
    for count in (1000, 5000):
        inputs = tmp_path / f"in{count}"
        make_corpus(inputs, count)
        process = subprocess.Popen(
            [*COMMAND, str(inputs), "-o", str(tmp_path / f"out{count}"), "-q"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=ENV,
        )
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        assert process.returncode == 0
        peaks[count] = usage.ru_maxrss
    assert peaks[5000] <= peaks[1000] * 1.2, peaks


# --- found in review: dying workers, renamed inputs, clocks, rule paths -------------------------------


def _children(pid: int) -> list[int]:
    with contextlib.suppress(OSError):
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return []


@pytest.mark.skipif(not Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").exists(), reason="needs /proc/…/children")
def test_a_worker_killed_midway_costs_nothing_and_the_run_finishes(big_corpus, big_reference, tmp_path):
    """The OOM killer takes a worker: its chunk runs again in new workers, the run ends normally."""
    out = tmp_path / "out"
    process = start(big_corpus, "-o", out, "-j", "2")
    wait_for_outputs(out, 100, process)
    workers = _children(process.pid)
    assert workers, "no worker processes to kill"
    os.kill(workers[0], signal.SIGKILL)
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    counts = summary_of(subprocess.CompletedProcess([], 0, stdout, stderr))
    assert counts["converted"] == BIG_CORPUS_SIZE
    assert outputs(out) == big_reference


def test_an_input_renamed_while_settling_is_deferred_not_failed(tmp_path):
    """A scraper writes x.part and renames it: the .part file, gone when read, is no failure."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    part = inputs / "story.part"
    part.write_text(dump_text(load_samples()[0], 1), encoding="utf-8")
    process = start(inputs, "-o", tmp_path / "out", "--settle", "3", "-j", "1")
    time.sleep(1)
    part.rename(inputs / "story.txt")
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert "story.part" in stderr and "gone before it could be read" in stderr and "error" not in stderr


def test_an_input_dated_in_the_future_is_not_waited_for(small, tmp_path):
    """A skewed clock (an mtime an hour ahead) is not a scraper still writing."""
    inputs, paths = small
    hour_ahead = time.time() + 3600
    for path in paths:
        os.utime(path, (hour_ahead, hour_ahead))
    started = time.monotonic()
    result = convert(inputs, "-o", tmp_path / "out", "--settle", "5", "-j", "1", timeout=60)  # not the hour ahead
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 5 + 10, "waited for the future"
    assert summary_of(result)["converted"] == SMALL


def test_the_same_rules_file_named_another_way_converts_nothing_again(small, tmp_path):
    """What decides a reconversion is the rules' content, never the path a rules file was named by."""
    inputs, _ = small
    rules = tmp_path / "rules.toml"
    rules.write_text('[[rule]]\nhosts = ["example.com"]\nstrip = [".ad"]\n', encoding="utf-8")
    out = tmp_path / "out"
    assert summary_of(convert(inputs, "-o", out, "--rules", rules))["converted"] == SMALL
    relative = os.path.relpath(rules)
    assert summary_of(convert(inputs, "-o", out, "--rules", relative))["unchanged"] == SMALL


# --- found in code review: colliding outputs, odd files at output paths, feeds beside folders ----------


@pytest.mark.parametrize("jobs", [1, 2])
def test_inputs_under_two_roots_with_one_output_fail_the_second_whatever_jobs_is(tmp_path, jobs):
    """a/x.txt and b/x.txt both want OUT/x.md: the first in path order wins, every run, at any -j."""
    samples = load_samples()
    for root, sample in (("a", samples[0]), ("b", samples[1])):
        (tmp_path / root).mkdir()
        (tmp_path / root / "x.txt").write_text(dump_text(sample, 1), encoding="utf-8")
    out = tmp_path / "out"
    expected = convert(tmp_path / "a", "-o", tmp_path / "only-a", "--settle", "0")
    for attempt in range(2):
        result = convert(tmp_path / "a", tmp_path / "b", "-o", out, "-j", jobs, "--settle", "0")
        assert result.returncode == 1, result.stderr
        assert "b/x.txt" in result.stderr and "is also another input's" in result.stderr
        counts = summary_of(result)
        assert (counts["converted"], counts["unchanged"], counts["failed"]) == ((1, 0, 1) if attempt == 0 else (0, 1, 1))
    assert expected.returncode == 0 and outputs(out) == outputs(tmp_path / "only-a")


def test_two_inputs_of_one_stem_in_a_folder_fail_the_second(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    text = dump_text(load_samples()[0], 1)
    (inputs / "a.html").write_text(text, encoding="utf-8")
    (inputs / "a.txt").write_text(text, encoding="utf-8")
    result = convert(inputs, "-o", tmp_path / "out", "-j", "2", "--settle", "0")
    assert result.returncode == 1
    assert "a.txt" in result.stderr and "is also another input's; rename one of them" in result.stderr
    assert summary_of(result)["converted"] == 1


def test_a_fifo_at_an_output_path_fails_that_input_and_hangs_nothing(small, tmp_path):
    inputs, paths = small
    out = tmp_path / "out"
    relative = paths[0].relative_to(inputs).with_suffix(".md")
    (out / relative).parent.mkdir(parents=True)
    os.mkfifo(out / relative)
    result = convert(inputs, "-o", out, "--settle", "0")
    assert result.returncode == 1
    assert f"{relative} is not a regular file" in result.stderr
    assert summary_of(result)["converted"] == SMALL - 1


def test_a_feed_beside_a_folder_of_its_name_is_converted_once(tmp_path):
    """news.xml and news/today.txt share OUT/news/: the dump's outputs are not the feed's."""
    inputs = tmp_path / "in"
    (inputs / "news").mkdir(parents=True)
    (inputs / "news.xml").write_bytes((SAMPLES / "feed_rss2.xml").read_bytes())
    today = inputs / "news" / "today.txt"
    today.write_text(dump_text(load_samples()[0], 1), encoding="utf-8")
    out = tmp_path / "out"
    assert summary_of(convert(inputs, "-o", out, "--settle", "0"))["converted"] == 2
    today.write_text(dump_text(load_samples()[0], 2), encoding="utf-8")
    result = convert(inputs, "-o", out, "--settle", "0")
    assert (summary_of(result)["converted"], summary_of(result)["unchanged"]) == (1, 1), result.stderr


# --- stdout that cannot be written, and Ctrl-C outside a batch ------------------------------------------


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize(
    "arguments",
    [["convert", SAMPLES / REAL_DUMPS[1]], ["rules"], ["explain", SAMPLES / REAL_DUMPS[1]]],
    ids=["convert a file", "rules", "explain"],
)
def test_a_full_stdout_is_one_line_not_a_traceback(arguments):
    with open("/dev/full", "w") as full:
        command = [sys.executable, "-m", "feedclean", *map(str, arguments)]
        result = subprocess.run(command, stdout=full, stderr=subprocess.PIPE, text=True, env=ENV, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip() == "feedclean: error: cannot write to stdout: No space left on device"


def test_ctrl_c_while_reading_stdin_exits_130():
    """Ctrl-C as a terminal sends it. Where the suite itself runs with SIGINT ignored (a background
    job, nohup, some CI runners) its children inherit that, and Python then never raises
    KeyboardInterrupt: a command started so is meant to ignore Ctrl-C. So the child gets SIGINT's
    default back, as a command typed at a terminal has it."""
    process = subprocess.Popen(
        [*COMMAND],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
        preexec_fn=_sigint_as_at_a_terminal,
    )
    _wait_until_reading_a_pipe(process.pid)  # started, and waiting for the dump that never comes
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130
    assert stderr.strip() == "feedclean: interrupted"


def _sigint_as_at_a_terminal() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _wait_until_reading_a_pipe(pid: int) -> None:
    """Until the process sleeps in a pipe read (Linux's /proc/PID/wchan says so); elsewhere, a while."""
    wchan = Path(f"/proc/{pid}/wchan")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if "pipe" in wchan.read_text():
                return
        except OSError:
            break
        time.sleep(0.05)
    time.sleep(2)
