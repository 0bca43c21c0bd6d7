"""Issue 11 as an attacker plays it against the batch runner: a hostile file in the output folder,
a damaged or planted state, colliding inputs, deep folders, inputs that hold a conversion in C code.

Each test is one promise of docs/cron.md or docs/use.md, and each was a reproducer that broke it.
They run the real command line as a child process, as cron does (batch_helpers.convert).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from batch_helpers import COMMAND, ENV, SAMPLES, STATE_FILE, convert, dump_text, load_samples, summary_of

HEADER = "<!--1712180702000-->\n[T](https://example.com/a)\n------\n\n"
URL = "https://example.com/news/one-story"


def _dump(folder: Path, name: str, index: int = 1, url: str | None = None, fetched: int | None = None) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dump_text(load_samples()[0], index, url=url, fetched=fetched), encoding="utf-8")
    return path


def _one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> None:
    """The run failed with exit 1 and said why in one line naming `words`, without a traceback."""
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("feedclean: error:")]
    assert len(lines) == 1 and all(word in lines[0] for word in words), result.stderr


# --- rows 2-4: nothing is written outside OUT through OUT/.feedclean ---------------------------------------


@pytest.fixture
def converted_once(tmp_path) -> tuple[Path, Path]:
    """An input folder converted once into tmp_path/o: (inputs, output folder)."""
    inputs = tmp_path / "in"
    _dump(inputs, "a.txt")
    out = tmp_path / "o"
    assert convert(inputs, "-o", out, "--settle", "0").returncode == 0
    return inputs, out


@pytest.mark.parametrize("name", ["lock", "running"])
def test_a_symlink_in_the_state_folder_is_never_written_through(converted_once, tmp_path, name):
    """Row 2: `ln -s ../../v.txt o/.feedclean/lock` made a run write its PID into v.txt.
    Row 3: `ln -s SOMEWHERE/x o/.feedclean/running` made a run create SOMEWHERE/x."""
    inputs, out = converted_once
    victim = tmp_path / "v.txt"
    victim.write_text("precious\n")
    absent = tmp_path / "elsewhere" / "x"
    absent.parent.mkdir()
    for target, link in ((victim, out / ".feedclean" / name), (absent, out / ".feedclean" / name)):
        link.unlink(missing_ok=True)
        link.symlink_to(os.path.relpath(target, link.parent))
        result = convert(inputs, "-o", out, "--settle", "0", "--force")
        _one_line_error(result, str(out / ".feedclean" / name))
    assert victim.read_text() == "precious\n"
    assert not absent.exists()


def test_a_state_folder_that_is_a_symlink_is_refused(converted_once, tmp_path):
    inputs, out = converted_once
    elsewhere = tmp_path / "elsewhere"
    (out / ".feedclean").rename(elsewhere)
    (out / ".feedclean").symlink_to(elsewhere)
    before = {path.name: path.read_bytes() for path in elsewhere.iterdir()}
    result = convert(inputs, "-o", out, "--settle", "0", "--force")
    _one_line_error(result, str(out / ".feedclean"))
    assert {path.name: path.read_bytes() for path in elsewhere.iterdir()} == before


@pytest.mark.parametrize("name", ["lock", "state.sqlite3"])
def test_a_hard_link_in_the_state_folder_is_never_written_through(converted_once, tmp_path, name):
    """A hard link is the same file under another name: the state is copied to a file of its own
    first, the lock (which a copy would split) is not written. Backups made with `cp -al` leave
    such links in a harmless state folder too, so they are no error."""
    inputs, out = converted_once
    elsewhere = tmp_path / "elsewhere"
    os.link(out / ".feedclean" / name, elsewhere)
    before = elsewhere.read_bytes()
    result = convert(inputs, "-o", out, "--settle", "0", "--force")
    assert result.returncode == 0, result.stderr
    assert elsewhere.read_bytes() == before


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs to give a folder to another user")
def test_a_state_folder_of_another_user_is_refused(converted_once):
    """Whoever owns OUT/.feedclean can swap its files under a run at any moment."""
    inputs, out = converted_once
    os.chown(out / ".feedclean", 65534, 65534)
    result = convert(inputs, "-o", out, "--settle", "0", "--force")
    _one_line_error(result, str(out / ".feedclean"), "user 65534")


@pytest.mark.parametrize("dry_run", [False, True], ids=["run", "dry-run"])
def test_a_state_file_that_is_a_symlink_to_another_database_is_left_alone(converted_once, tmp_path, dry_run):
    """Row 4: state.sqlite3 a symlink to another SQLite file holding a table `files`: that table was
    dropped and recreated, and its user_version set."""
    inputs, out = converted_once
    other = tmp_path / "other.sqlite3"
    with sqlite3.connect(other) as database:
        database.execute("CREATE TABLE files (mine TEXT)")
        database.execute("INSERT INTO files VALUES ('keep me')")
        database.execute("PRAGMA user_version = 42")
    database.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{out / STATE_FILE}{suffix}").unlink(missing_ok=True)
    (out / STATE_FILE).symlink_to(other)
    before = other.read_bytes()
    result = convert(inputs, "-o", out, "--settle", "0", "--force", *(["--dry-run"] if dry_run else []))
    _one_line_error(result, str(out / STATE_FILE))
    assert other.read_bytes() == before
    with sqlite3.connect(other) as database:
        assert database.execute("SELECT * FROM files").fetchall() == [("keep me",)]
        assert database.execute("PRAGMA user_version").fetchone() == (42,)
    database.close()


@pytest.mark.parametrize("side", ["-wal", "-journal"])
def test_a_symlink_beside_the_state_file_is_never_written_through(converted_once, tmp_path, side):
    """SQLite opens the state's side files by name: one that is a symlink would be written through."""
    inputs, out = converted_once
    victim = tmp_path / "v.txt"
    victim.write_text("precious\n")
    Path(f"{out / STATE_FILE}{side}").unlink(missing_ok=True)
    Path(f"{out / STATE_FILE}{side}").symlink_to(victim)
    result = convert(inputs, "-o", out, "--settle", "0", "--force")
    _one_line_error(result, f"{out / STATE_FILE}{side}")
    assert victim.read_text() == "precious\n"


# --- rows 5, 6, 10: what --dedupe deletes ----------------------------------------------------------------


def test_dedupe_never_deletes_through_a_symlinked_output_folder(tmp_path):
    """Row 5: OUT/a replaced by a symlink to an outside folder holding x.md: a newer duplicate in
    in/b made the run say "would land outside" and still unlink the outside x.md."""
    inputs, out = tmp_path / "in", tmp_path / "o"
    _dump(inputs, "a/x.txt", 1, url=URL, fetched=1712180702000)
    assert convert(inputs, "-o", out, "--dedupe", "--settle", "0").returncode == 0
    outside = tmp_path / "outside"
    (out / "a").rename(outside)
    (out / "a").symlink_to(outside)
    _dump(inputs, "b/x.txt", 2, url=URL, fetched=1712180802000)
    before = (outside / "x.md").read_bytes()
    convert(inputs, "-o", out, "--dedupe", "--settle", "0")
    assert (outside / "x.md").read_bytes() == before


def test_dedupe_never_deletes_a_path_the_state_names_outside_out(tmp_path):
    """Row 6: a row in state.sqlite3 whose output is ../victim.txt, then --dedupe: OUT/../victim.txt went."""
    inputs, out = tmp_path / "in", tmp_path / "o"
    _dump(inputs, "old.txt", 1, url=URL, fetched=1712180702000)
    _dump(inputs, "new.txt", 2, url=URL, fetched=1712180802000)
    assert convert(inputs, "-o", out, "--settle", "0").returncode == 0
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    with sqlite3.connect(out / STATE_FILE) as database:
        changed = database.execute(
            "UPDATE files SET output = ? WHERE output = ?", (os.fsencode("../victim.txt"), os.fsencode("old.md"))
        ).rowcount
    database.close()
    assert changed == 1
    (inputs / "old.txt").unlink()
    convert(inputs, "-o", out, "--dedupe", "--settle", "0")
    assert victim.read_text() == "precious\n"


def test_dedupe_keeps_the_last_output_of_a_url_whose_inputs_are_all_gone(tmp_path):
    """Row 10: two dumps of one URL, --dedupe, both inputs deleted, --dedupe again: the surviving
    output was deleted. Outputs of deleted inputs stay (an archive keeps its articles)."""
    inputs, out = tmp_path / "in", tmp_path / "o"
    _dump(inputs, "a.txt", 1, url=URL, fetched=1712180702000)
    _dump(inputs, "b.txt", 2, url=URL, fetched=1712180802000)
    first = convert(inputs, "-o", out, "--dedupe", "--settle", "0")
    assert summary_of(first)["merged"] == 1
    assert sorted(path.name for path in out.iterdir()) == [".feedclean", "b.md"]
    kept = (out / "b.md").read_bytes()
    (inputs / "a.txt").unlink()
    (inputs / "b.txt").unlink()
    again = convert(inputs, "-o", out, "--dedupe", "--settle", "0")
    assert again.returncode == 0, again.stderr
    assert (out / "b.md").read_bytes() == kept


def test_dedupe_brings_the_next_latest_back_when_the_winner_is_deleted(tmp_path):
    """The other half of "Duplicates" in docs/cron.md: when the input that won is deleted, the next latest comes back."""
    inputs, out = tmp_path / "in", tmp_path / "o"
    _dump(inputs, "a.txt", 1, url=URL, fetched=1712180702000)
    _dump(inputs, "b.txt", 2, url=URL, fetched=1712180802000)
    assert convert(inputs, "-o", out, "--dedupe", "--settle", "0").returncode == 0
    (inputs / "b.txt").unlink()
    again = convert(inputs, "-o", out, "--dedupe", "--settle", "0")
    assert again.returncode == 0, again.stderr
    assert sorted(path.name for path in out.iterdir()) == [".feedclean", "a.md"]


# --- row 7: the sweep of temporary files --------------------------------------------------------------


def test_the_sweep_after_a_killed_run_never_deletes_an_input(tmp_path):
    """Row 7: IN inside OUT, W/in/notes.feedclean-tmp is an input; after a run and
    `touch W/.feedclean/running` (a killed run), the next run's sweep deleted it."""
    work = tmp_path / "W"
    inputs = work / "in"
    _dump(inputs, "a.txt")
    notes = inputs / "notes.feedclean-tmp"
    notes.write_text(dump_text(load_samples()[1], 2), encoding="utf-8")
    hidden = inputs / ".1.2.feedclean-tmp"
    hidden.write_text("not a dump, but not feedclean's either\n")
    assert convert(inputs, "-o", work, "--settle", "0").returncode == 0
    (work / ".feedclean" / "running").touch()
    assert convert(inputs, "-o", work, "--settle", "0").returncode == 0
    assert notes.exists() and hidden.exists()


# --- row 8: a note of yours is never overwritten ---------------------------------------------------------


@pytest.mark.parametrize(
    ("output_format", "note"),
    [("md", "---\ntitle: Mine\n---\nmy words\n"), ("json", '{\n  "schema": 1, "mine": true}\n')],
)
def test_a_note_that_starts_like_an_output_is_never_overwritten(tmp_path, output_format, note):
    """Row 8: site/about.md written by hand with front matter was replaced by the output of
    d/about.txt (only the first 11 bytes were checked); the same for JSON."""
    inputs, site = tmp_path / "d", tmp_path / "site"
    _dump(inputs, "about.txt")
    site.mkdir()
    mine = site / f"about.{output_format}"
    mine.write_text(note)
    for _ in range(2):
        result = convert(inputs, "-o", site, "--format", output_format, "--settle", "0")
        _one_line_error(result, str(mine), "not written by feedclean")
        assert mine.read_text() == note


def test_a_lost_state_costs_one_run_not_the_archive(tmp_path):
    """Without a state, an output that holds exactly what the conversion gives is feedclean's."""
    inputs, out = tmp_path / "in", tmp_path / "o"
    _dump(inputs, "a.txt")
    assert convert(inputs, "-o", out, "--settle", "0").returncode == 0
    (out / STATE_FILE).unlink()
    again = convert(inputs, "-o", out, "--settle", "0")
    assert again.returncode == 0, again.stderr
    assert summary_of(again)["converted"] == 1


def test_outputs_of_a_state_from_before_the_ownership_record_stay_feedcleans(tmp_path):
    """A state of schema 5 knew no `outputs` table: upgraded, the outputs it vouches for are
    feedclean's, so new rules that change every output do not make the archive foreign."""
    inputs, out = tmp_path / "in", tmp_path / "o"
    _dump(inputs, "a.txt")
    (inputs / "news.xml").write_bytes((SAMPLES / "feed_rss2.xml").read_bytes())
    assert convert(inputs, "-o", out, "--settle", "0").returncode == 0
    with sqlite3.connect(out / STATE_FILE) as database:
        database.execute("DROP TABLE outputs")
        database.execute("PRAGMA user_version = 5")
    database.close()
    rules = tmp_path / "rules.toml"
    rules.write_text('[[rule]]\nhosts = ["*", "dw.com"]\nname = "Renamed"\n', encoding="utf-8")
    result = convert(inputs, "-o", out, "--settle", "0", "--rules", rules)
    assert result.returncode == 0, result.stderr
    assert summary_of(result)["converted"] == 2
    assert 'name: "Renamed"' in (out / "a.md").read_text(encoding="utf-8")


def test_an_output_edited_by_hand_is_left_as_edited(tmp_path):
    """An edit makes the file yours: it is not replaced, and its input fails with a line saying so."""
    inputs, out = tmp_path / "in", tmp_path / "o"
    _dump(inputs, "a.txt")
    assert convert(inputs, "-o", out, "--settle", "0").returncode == 0
    edited = (out / "a.md").read_text(encoding="utf-8") + "\nMy note.\n"
    (out / "a.md").write_text(edited, encoding="utf-8")
    for extra in ([], ["--force"]):
        result = convert(inputs, "-o", out, "--settle", "0", *extra)
        _one_line_error(result, str(out / "a.md"), "changed since feedclean wrote it")
        assert (out / "a.md").read_text(encoding="utf-8") == edited


# --- row 9: two inputs, one output, a feed's items included ------------------------------------------------


def test_a_dump_named_like_a_feed_item_in_the_feeds_folder_fails_every_run(tmp_path):
    """Row 9: in/feed_rss2.xml beside in/feed_rss2/40ffc37293bed579.txt (one item's id): both wrote
    OUT/feed_rss2/40ffc37293bed579.md, every run exited 0, and the two alternated on each run."""
    inputs, out = tmp_path / "in", tmp_path / "o"
    inputs.mkdir()
    (inputs / "feed_rss2.xml").write_bytes((SAMPLES / "feed_rss2.xml").read_bytes())
    assert convert(inputs / "feed_rss2.xml", "-o", tmp_path / "feed-alone", "--settle", "0").returncode == 0
    item = tmp_path / "feed-alone" / "feed_rss2" / "40ffc37293bed579.md"
    assert item.exists()
    dump = _dump(inputs, "feed_rss2/40ffc37293bed579.txt")
    for jobs in ("1", "2", "1"):
        result = convert(inputs, "-o", out, "--settle", "0", "-j", jobs)
        _one_line_error(result, str(dump), "feed_rss2.xml")
        assert (out / "feed_rss2" / "40ffc37293bed579.md").read_bytes() == item.read_bytes()


def test_a_feed_given_after_a_root_holding_its_item_names_fails(tmp_path):
    """Under several roots the order of the roots decides which input is the second."""
    first, second, out = tmp_path / "first", tmp_path / "second", tmp_path / "o"
    dump = _dump(first, "feed_rss2/40ffc37293bed579.txt")
    second.mkdir()
    (second / "feed_rss2.xml").write_bytes((SAMPLES / "feed_rss2.xml").read_bytes())
    for _ in range(2):
        result = convert(first, second, "-o", out, "--settle", "0")
        _one_line_error(result, str(second / "feed_rss2.xml"), str(dump))
        counts = summary_of(result)
        assert counts["converted"] + counts["unchanged"] == 1


# --- row 11: any depth ---------------------------------------------------------------------------------


@pytest.fixture
def deep_folders(tmp_path):
    """Nested folders too deep for pytest's own clean-up: removed here, whatever the test did."""
    made: list[tuple[Path, str]] = []
    yield made
    for top, name in made:
        _remove_deep(top, name)


def test_a_dump_a_thousand_folders_deep_is_converted(tmp_path, deep_folders):
    """Row 11: 1000 nested folders with a dump at the bottom gave a RecursionError traceback."""
    inputs, out = tmp_path / "in", tmp_path / "o"
    deep_folders.extend([(inputs, "d"), (out, "d")])
    _nest(inputs, "d", 1000, dump_text(load_samples()[0], 1))
    result = convert(inputs, "-o", out, "--settle", "0")
    assert result.returncode == 0, result.stderr[-2000:]
    assert summary_of(result)["converted"] == 1
    assert out.joinpath(*["d"] * 1000, "a.md").exists()


def test_a_folder_too_deep_to_name_fails_in_one_line(tmp_path, deep_folders):
    inputs = tmp_path / "in"
    deep_folders.append((inputs, "dd"))
    _nest(inputs, "dd", 2100, dump_text(load_samples()[0], 1))  # deeper than PATH_MAX lets a path name
    result = convert(inputs, "-o", tmp_path / "o", "--settle", "0")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("feedclean: error:")]
    assert len(errors) == 1 and "too long" in errors[0], result.stderr[-2000:]


def _nest(top: Path, name: str, depth: int, dump: str) -> None:
    """`depth` folders called `name`, one in the other, under `top`, and a.txt holding `dump` in the
    last: made through descriptors, since neither pathlib nor os.makedirs goes that deep."""
    top.mkdir()
    descriptor = os.open(top, os.O_RDONLY)
    try:
        for _ in range(depth):
            os.mkdir(name, dir_fd=descriptor)
            inner = os.open(name, os.O_RDONLY, dir_fd=descriptor)
            os.close(descriptor)
            descriptor = inner
        with open(os.open("a.txt", os.O_WRONLY | os.O_CREAT, dir_fd=descriptor), "w", encoding="utf-8") as handle:
            handle.write(dump)
    finally:
        os.close(descriptor)


def _remove_deep(top: Path, name: str) -> None:
    """Remove a chain of nested folders of one name, too deep for shutil.rmtree (and for a path to
    name): walked down and back up one folder at a time, by changing into each."""
    if not (top / name).is_dir():
        return
    start = os.getcwd()
    os.chdir(top)
    depth = 0
    try:
        while os.path.isdir(name):
            os.chdir(name)
            depth += 1
        for _ in range(depth):
            for entry in os.scandir("."):
                os.unlink(entry.name)
            os.chdir("..")
            os.rmdir(name)
    finally:
        os.chdir(start)


# --- row 12: a time limit that holds inside C code -----------------------------------------------------------


def _slow_in_libxml2(folder: Path) -> Path:
    """Row 12's input: a 1 MB dump `<p a0="0" … a99999="99999">x</p>`, minutes inside libxml2."""
    path = folder / "slow.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    attributes = " ".join(f'a{number}="{number}"' for number in range(100_000))
    path.write_text(f"{HEADER}<p {attributes}>x</p>\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_timeout_holds_inside_c_code_in_a_batch(tmp_path, jobs):
    """Row 12: with --timeout 5 the input ran 115 s inside libxml2 before failing."""
    inputs = tmp_path / "in"
    slow = _slow_in_libxml2(inputs)
    for index in range(3):
        _dump(inputs, f"ok{index}.txt", index)
    started = time.monotonic()
    result = convert(inputs, "-o", tmp_path / "o", "--timeout", "1", "--settle", "0", "-j", jobs, timeout=60)
    assert time.monotonic() - started < 15
    _one_line_error(result, str(slow), "took longer than 1 s")
    assert summary_of(result)["converted"] == 3


@pytest.mark.parametrize("how", ["stdin", "file", "explain"])
def test_timeout_holds_inside_c_code_for_one_input(tmp_path, how):
    slow = _slow_in_libxml2(tmp_path)
    command = {
        "stdin": [*COMMAND, "--timeout", "1"],
        "file": [*COMMAND, str(slow), "--timeout", "1"],
        "explain": [sys.executable, "-m", "feedclean", "explain", str(slow), "--timeout", "1"],
    }[how]
    started = time.monotonic()
    with slow.open("rb") as stdin:
        result = subprocess.run(command, stdin=stdin, capture_output=True, text=True, env=ENV, timeout=60, check=False)
    assert time.monotonic() - started < 15
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "took longer than 1 s to convert" in result.stderr, result.stderr


# --- row 15: the state waits for a lock ----------------------------------------------------------------------


def test_a_run_waits_for_another_program_holding_the_state(converted_once):
    """Row 15: BEGIN EXCLUSIVE held on state.sqlite3 for 2 s while a --force run started: the run
    failed with "database is locked" as soon as the lock was released."""
    inputs, out = converted_once
    holder = sqlite3.connect(out / STATE_FILE, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    release = threading.Timer(2, holder.execute, ("COMMIT",))
    release.start()
    try:
        result = convert(inputs, "-o", out, "--force", "--settle", "0")
    finally:
        release.join()
        holder.close()
    assert result.returncode == 0, result.stderr
    assert summary_of(result)["converted"] == 1
