"""The command line through click's CliRunner: options, exit codes, messages."""

from __future__ import annotations

import json
import os
import shutil

import pytest
from conftest import SAMPLES, make_dump, split_front_matter

import feedclean.workers
from feedclean import __version__
from feedclean.cli import main

RFI = SAMPLES / "003_1fddeb10f9e1ef9b.txt"
SEEDS = [SAMPLES / "000_005ff02dac068fcc.txt", RFI]


@pytest.fixture
def dumps(tmp_path):
    """A folder with the two seed dumps, a nested dump and a hidden file."""
    folder = tmp_path / "in"
    folder.mkdir()
    for seed in SEEDS:
        shutil.copy(seed, folder)
    (folder / "nested" / "deeper").mkdir(parents=True)
    (folder / "nested" / "deeper" / "c.txt").write_text(make_dump("<p>Nested article text.</p>"), encoding="utf-8")
    (folder / ".hidden.txt").write_text(make_dump("<p>Hidden.</p>"), encoding="utf-8")
    return folder


def test_help_has_examples_for_folder_pipe_and_cron(runner):
    result = runner.invoke(main, ["convert", "--help"])
    assert result.exit_code == 0
    assert "feedclean convert samples/ -o out/" in result.output
    assert "cat dump.txt | feedclean convert" in result.output
    assert "crontab" in result.output


def test_version(runner):
    result = runner.invoke(main, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_folder_mirrors_relative_paths(runner, dumps, tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(main, ["convert", str(dumps), "-o", str(out), "-j", "1"])
    assert result.exit_code == 0, result.output
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() and ".feedclean" not in p.parts)
    assert written == ["000_005ff02dac068fcc.md", "003_1fddeb10f9e1ef9b.md", "nested/deeper/c.md"]
    assert "3 converted" in result.output


def test_json_format(runner, dumps, tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(main, ["convert", str(dumps), "-o", str(out), "--format", "json", "-j", "1"])
    assert result.exit_code == 0
    document = json.loads((out / "003_1fddeb10f9e1ef9b.json").read_text(encoding="utf-8"))
    assert document["schema"] == 1
    for key in (
        "title",
        "url",
        "source",
        "published",
        "fetched",
        "language",
        "lead",
        "images",
        "rights",
        "id",
        "markdown",
        "text",
    ):
        assert key in document


def test_glob_narrows_folder_inputs(runner, dumps, tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(main, ["convert", str(dumps), "-o", str(out), "--glob", "nested/*/*.txt", "-j", "1"])
    assert result.exit_code == 0
    assert [p.name for p in out.rglob("*.md")] == ["c.md"]


def test_single_file_argument(runner, tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(main, ["convert", str(RFI), "-o", str(out), "-j", "1"])
    assert result.exit_code == 0
    front, body = split_front_matter((out / "003_1fddeb10f9e1ef9b.md").read_text(encoding="utf-8"))
    assert front["source"]["name"] == "RFI" and "北约秘书长" in body


def test_stdin_to_stdout(runner):
    result = runner.invoke(main, ["convert"], input=RFI.read_bytes())
    assert result.exit_code == 0
    front, body = split_front_matter(result.stdout)
    assert front["title"].startswith("北约与亚太外长") and "北约秘书长" in body
    json_result = runner.invoke(main, ["convert", "-", "--format", "json"], input=RFI.read_bytes())
    assert json.loads(json_result.stdout)["language"] == "zh-Hans"


def test_stdin_failure_exits_1_with_one_line(runner):
    result = runner.invoke(main, ["convert"], input=b"")
    assert result.exit_code == 1
    assert result.stderr.strip() == "feedclean: error: <stdin>: file is empty"


def test_bad_input_fails_alone(runner, dumps, tmp_path):
    (dumps / "empty.txt").write_bytes(b"")
    (dumps / "binary.bin").write_bytes(b"\x00\x01\x02\x03")
    out = tmp_path / "out"
    result = runner.invoke(main, ["convert", str(dumps), "-o", str(out), "-j", "1"])
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 2
    assert any("empty.txt: file is empty" in line for line in errors)
    assert any("binary.bin: binary file" in line for line in errors)
    assert (out / "003_1fddeb10f9e1ef9b.md").exists()
    assert not (out / "empty.md").exists()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["convert", "samples"], "-o OUT"),
        (["convert", "samples/000_005ff02dac068fcc.txt", "samples/003_1fddeb10f9e1ef9b.txt"], "-o OUT"),
        (["convert", "does-not-exist", "-o", "x"], "does not exist"),
        (["convert", "-", "samples", "-o", "x"], "cannot be mixed"),
        (["convert", "samples", "-o", "x", "--format", "html"], "'html' is not one of"),
        (["convert", "samples", "-o", "x", "--max-size", "lots"], "not a size"),
    ],
)
def test_usage_errors_exit_2(runner, arguments, message, monkeypatch):
    monkeypatch.chdir(SAMPLES.parent)
    result = runner.invoke(main, arguments)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_stdin_with_output_folder_is_a_usage_error(runner, tmp_path):
    result = runner.invoke(main, ["convert", "-o", str(tmp_path)], input=RFI.read_bytes())
    assert result.exit_code == 2 and "stdout" in result.output


def test_max_size(runner, tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(main, ["convert", str(RFI), "-o", str(out), "--max-size", "1k", "-j", "1"])
    assert result.exit_code == 1
    assert "over the 1,024-byte limit" in result.stderr


def test_quiet_prints_nothing_on_success(runner, dumps, tmp_path):
    result = runner.invoke(main, ["convert", str(dumps), "-o", str(tmp_path / "out"), "-q", "-j", "1"])
    assert result.exit_code == 0 and result.output == ""


def test_report_file(runner, dumps, tmp_path):
    (dumps / "empty.txt").write_bytes(b"")
    report = tmp_path / "report.json"
    result = runner.invoke(main, ["convert", str(dumps), "-o", str(tmp_path / "out"), "--report", str(report), "-j", "1"])
    assert result.exit_code == 1
    summary = json.loads(report.read_text())
    assert summary["converted"] == 3 and summary["failed"] == 1
    assert summary["failures"][0]["input"].endswith("empty.txt")


# --- found in a hunt for CLI mistakes: what --report may replace, odd option values ---------------------


def _convert_with_report(runner, dumps, out, report, *extra):
    return runner.invoke(main, ["convert", str(dumps), "-o", str(out), "-j", "1", "--report", str(report), *extra])


def test_the_report_never_replaces_an_input_or_an_article(runner, dumps, tmp_path):
    out = tmp_path / "out"
    assert _convert_with_report(runner, dumps, out, tmp_path / "report.json").exit_code == 0
    article = out / RFI.with_suffix(".md").name
    before = article.read_bytes()
    result = _convert_with_report(runner, dumps, out, article)
    assert result.exit_code == 2 and "not a feedclean report; not replaced" in result.output
    assert article.read_bytes() == before
    result = _convert_with_report(runner, dumps, out, dumps / RFI.name)
    assert result.exit_code == 2 and "inside the input folder" in result.output
    assert (dumps / RFI.name).read_bytes() == RFI.read_bytes()


def test_the_report_goes_through_a_symlink_and_never_replaces_a_fifo(runner, dumps, tmp_path):
    real = tmp_path / "status" / "feedclean.json"
    real.parent.mkdir()
    link = tmp_path / "report.json"
    link.symlink_to(real)
    assert _convert_with_report(runner, dumps, tmp_path / "out", link).exit_code == 0
    assert link.is_symlink() and json.loads(real.read_text())["converted"] == 3
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    result = _convert_with_report(runner, dumps, tmp_path / "out", fifo)
    assert result.exit_code == 2 and "not a regular file" in result.output


@pytest.mark.parametrize(
    "arguments",
    [["/no/such/dumps"], ["-j", "-1"], ["--timeout", "nan"], ["--bogus-option"]],
    ids=["missing folder", "negative jobs", "nan timeout", "unknown option"],
)
def test_a_command_line_click_refuses_still_writes_the_report(runner, dumps, tmp_path, arguments):
    report = tmp_path / "report.json"
    report.write_text('{\n  "version": "the last good run"\n}\n')
    paths = [] if arguments[0].startswith("/") else [str(dumps)]
    result = runner.invoke(main, ["convert", *paths, *arguments, "-o", str(tmp_path / "out"), "--report", str(report)])
    assert result.exit_code == 2
    assert "error" in json.loads(report.read_text())


@pytest.mark.parametrize(
    ("option", "value"),
    [("--timeout", "nan"), ("--timeout", "inf"), ("--settle", "1e10"), ("--max-size", "1e30"), ("-o", ""), ("--report", " ")],
)
def test_values_no_run_could_use_are_usage_errors(runner, dumps, tmp_path, option, value, monkeypatch):
    monkeypatch.chdir(tmp_path)  # `-o ""` once meant the current folder
    arguments = ["convert", str(dumps), option, value]
    if option != "-o":
        arguments += ["-o", str(tmp_path / "out")]
    result = runner.invoke(main, arguments)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


def test_a_file_given_alone_and_inside_a_folder_converts_once(runner, dumps, tmp_path):
    result = runner.invoke(main, ["convert", str(dumps), str(dumps / RFI.name), "-o", str(tmp_path / "out"), "-j", "2"])
    assert result.exit_code == 0
    assert "3 converted, 0 unchanged, 0 failed" in result.output


def test_a_feed_item_never_replaces_a_file_feedclean_did_not_write(runner, tmp_path):
    out = tmp_path / "out"
    feed = SAMPLES / "feed_rss2.xml"
    assert runner.invoke(main, ["convert", str(feed), "-o", str(out), "-j", "1"]).exit_code == 0
    items = sorted((out / "feed_rss2").iterdir())
    items[-1].write_text("my own notes\n")
    for item in items[:-1]:
        item.unlink()
    result = runner.invoke(main, ["convert", str(feed), "-o", str(out), "-j", "1"])
    assert result.exit_code == 1 and "was changed since feedclean wrote it; not overwritten" in result.output
    assert items[-1].read_text() == "my own notes\n"
    assert sorted((out / "feed_rss2").iterdir()) == [items[-1]], "a feed is written whole or not at all"


def test_the_rules_table_piped_stays_narrow(runner):
    result = runner.invoke(main, ["rules"])
    assert result.exit_code == 0
    assert max(len(line) for line in result.output.splitlines()) <= 160


@pytest.mark.parametrize(("count", "workers"), [(3, 1), (40, 3)], ids=["three-dumps", "forty-dumps"])
def test_no_more_workers_start_than_there_is_work_for(runner, tmp_path, monkeypatch, count, workers):
    """A cron run finding three new dumps forks one worker, not one per CPU; `-j 64` over forty forks three, not 64."""
    started: list[int] = []

    class CountingWorker(feedclean.workers._Worker):
        def __init__(self, *arguments):
            super().__init__(*arguments)
            started.append(self.process.pid)

    monkeypatch.setattr(feedclean.workers, "_Worker", CountingWorker)
    folder = tmp_path / "in"
    folder.mkdir()
    for number in range(count):
        (folder / f"{number}.txt").write_text(make_dump(f"<p>Article number {number}.</p>"), encoding="utf-8")
    result = runner.invoke(main, ["convert", str(folder), "-o", str(tmp_path / "out"), "-j", "64", "--settle", "0"])
    assert result.exit_code == 0, result.output
    assert f"{count} converted" in result.output
    assert len(started) == workers
