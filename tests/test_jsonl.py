"""`convert --format jsonl`: any inputs as JSON Lines on stdout, the --format json objects one per line.

Through the command line (CliRunner), and once as a real process in a pipe.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import SAMPLES, make_dump

from feedclean.cli import main
from feedclean.paths import discover

ENV = {**os.environ, "XDG_CONFIG_HOME": "/nonexistent-feedclean-test-config"}
# A rules file whose pattern backtracks for ever on a paragraph of a's and a "!".
BACKTRACKING_RULES = "[[rule]]\nhosts = [\"*\"]\nstrip_text = ['(a+)+$']\n"


@pytest.fixture
def folder(tmp_path):
    """Three dumps, the middle one empty (a bad input), and a hidden file that is no input."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name in ("a", "c"):
        (inputs / f"{name}.txt").write_text(make_dump(f"<p>Article {name}.</p>", url=f"https://example.com/{name}"), "utf-8")
    (inputs / "b.txt").write_text("", encoding="utf-8")
    (inputs / ".hidden.txt").write_text(make_dump("<p>Hidden.</p>"), encoding="utf-8")
    return inputs


def lines_of(stdout: str) -> list[dict]:
    assert stdout.endswith("\n") or not stdout
    return [json.loads(line) for line in stdout.split("\n")[:-1]]


def json_objects(runner: CliRunner, path: Path) -> list[dict]:
    """What `convert PATH --format json` gives for one input, as a list (a feed's is an array)."""
    result = runner.invoke(main, ["convert", str(path), "--format", "json", "--no-user-rules"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    return document if isinstance(document, list) else [document]


def test_a_folder_streams_the_json_objects_one_per_line_in_input_order(runner):
    result = runner.invoke(main, ["convert", str(SAMPLES), "--format", "jsonl", "--no-user-rules"])
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    expected = [document for found in discover([SAMPLES], None) for document in json_objects(runner, Path(found.path))]
    assert lines_of(result.stdout) == expected
    assert len(expected) == 12  # a feed file gives one line per item


def test_the_lines_hold_what_the_json_files_of_a_folder_run_hold(runner, tmp_path):
    out = tmp_path / "out"
    assert runner.invoke(main, ["convert", str(SAMPLES), "-o", str(out), "--format", "json", "--no-user-rules"]).exit_code == 0
    written = [json.loads(path.read_text("utf-8")) for path in out.rglob("*.json")]
    streamed = lines_of(runner.invoke(main, ["convert", str(SAMPLES), "--format", "jsonl", "--no-user-rules"]).stdout)
    assert sorted(streamed, key=lambda document: document["id"]) == sorted(written, key=lambda document: document["id"])


def test_each_line_is_compact_utf8_json_and_line_separators_are_escaped(runner, tmp_path):
    dump = tmp_path / "separators.txt"
    dump.write_text(make_dump("<p>Café.</p><pre>one\u2028two\u2029three</pre>", title="A\u2028title"), "utf-8")
    result = runner.invoke(main, ["convert", str(dump), "--format", "jsonl", "--no-user-rules"])
    assert result.exit_code == 0, result.stderr
    line = result.stdout_bytes
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert b"\xe2\x80\xa8" not in line and b"\xe2\x80\xa9" not in line and "Café".encode() in line
    assert len(result.stdout.splitlines()) == 1  # str.splitlines breaks at U+2028: there is none left
    document = json.loads(line)
    assert "one\u2028two\u2029three" in document["markdown"] and document["title"] == "A title"
    assert line.decode().startswith('{"schema":1,"title":')


def test_a_bad_input_is_one_stderr_line_and_the_stream_goes_on(runner, folder):
    result = runner.invoke(main, ["convert", str(folder), "--format", "jsonl", "--no-user-rules"])
    assert result.exit_code == 1
    assert result.stderr == f"feedclean: error: {folder / 'b.txt'}: file is empty\n"
    assert [document["url"] for document in lines_of(result.stdout)] == ["https://example.com/a", "https://example.com/c"]


def test_an_input_past_the_timeout_fails_alone(runner, folder, tmp_path):
    (folder / "b.txt").write_text(make_dump("<p>" + "a" * 40 + "!</p>"), encoding="utf-8")
    rules = tmp_path / "slow.toml"
    rules.write_text(BACKTRACKING_RULES, encoding="utf-8")
    arguments = ["convert", str(folder), "--format", "jsonl", "--timeout", "1", "--rules", str(rules), "--no-user-rules"]
    result = runner.invoke(main, arguments)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"feedclean: error: {folder / 'b.txt'}: took longer than 1 s to convert")
    assert len(lines_of(result.stdout)) == 2


def test_stdin_and_several_paths_stream_too(runner, folder):
    dump = (folder / "a.txt").read_text(encoding="utf-8")
    result = runner.invoke(main, ["convert", "--format", "jsonl", "--no-user-rules"], input=dump)
    assert result.exit_code == 0 and len(lines_of(result.stdout)) == 1
    arguments = ["convert", str(folder / "c.txt"), str(SAMPLES / "feed_rss2.xml"), "--format", "jsonl", "--no-user-rules"]
    result = runner.invoke(main, arguments)
    assert result.exit_code == 0, result.stderr
    assert [document["url"].rpartition("/")[2] for document in lines_of(result.stdout)] == [
        "c",
        "harbour-reopens",
        "tram-vote",
        "swifts",
    ]


def test_a_stream_writes_nothing_to_disk(runner, folder, tmp_path, monkeypatch):
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    before = sorted(folder.rglob("*"))
    assert runner.invoke(main, ["convert", str(folder), "--format", "jsonl", "--no-user-rules"]).exit_code == 1
    assert os.listdir(here) == [] and sorted(folder.rglob("*")) == before


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["-o", "OUT"], "--format jsonl is one stream to stdout: drop -o"),
        (["--dry-run"], "--dry-run, --dedupe and --report need -o OUT"),
        (["--dedupe"], "--dry-run, --dedupe and --report need -o OUT"),
    ],
)
def test_what_only_a_folder_run_does_is_a_usage_error(runner, folder, tmp_path, arguments, message):
    arguments = [str(tmp_path / "out") if argument == "OUT" else argument for argument in arguments]
    result = runner.invoke(main, ["convert", str(folder), "--format", "jsonl", *arguments])
    assert result.exit_code == 2 and message in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_report_asked_of_a_stream_says_why_there_is_none(runner, folder, tmp_path):
    report = tmp_path / "report.json"
    result = runner.invoke(main, ["convert", str(folder), "--format", "jsonl", "--report", str(report)])
    assert result.exit_code == 2 and result.stdout == ""
    assert "need -o OUT" in json.loads(report.read_text(encoding="utf-8"))["error"]


def test_other_formats_still_need_an_output_folder(runner, folder):
    result = runner.invoke(main, ["convert", str(folder), "--format", "json"])
    assert result.exit_code == 2 and "give an output folder with -o OUT" in result.stderr


def test_help_lists_the_stream(runner):
    result = runner.invoke(main, ["convert", "--help"])
    assert "feedclean convert dumps/ --format jsonl > all.jsonl" in result.stdout
    assert "[md|json|jsonl]" in result.stdout


def test_a_real_pipe_that_closes_early_stops_the_stream_quietly(folder):
    """`| head -1`: the reader goes away after one line (of more than a pipe holds); feedclean
    stops as cat would: status 1, no message, no traceback."""
    (folder / "b.txt").unlink()
    for number in range(400):
        (folder / f"z{number:03}.txt").write_text(make_dump(f"<p>Article {number}.</p>", url=f"https://example.com/{number}"))
    command = [sys.executable, "-m", "feedclean", "convert", str(folder), "--format", "jsonl"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV) as process:
        first = json.loads(process.stdout.readline())
        process.stdout.close()
        stderr = process.stderr.read().decode()
        process.wait(timeout=120)
    assert first["url"] == "https://example.com/a"
    assert (process.returncode, stderr) == (1, "")


def shell(*arguments: str, then: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """`feedclean convert ARGUMENTS` as a shell runs it, followed by `then` (a redirection)."""
    line = " ".join(shlex.quote(argument) for argument in (sys.executable, "-m", "feedclean", "convert", *arguments))
    return subprocess.run(["sh", "-c", f"{line} {then}"], cwd=cwd, capture_output=True, text=True, env=ENV, check=False)


def test_the_file_stdout_goes_to_is_never_read_as_an_input(tmp_path):
    """`convert . --format jsonl > ./articles.jsonl` once read its own lines back (13 for 12
    articles, and with `>>` from cron the file grew 3.5 times a run): as cat does, the input that
    is the output is skipped, with one error line, and the status is 1."""
    folder = tmp_path / "samples"
    shutil.copytree(SAMPLES, folder)
    for redirect, lines in ((">", 12), (">>", 24), (">>", 36)):
        result = shell(".", "--format", "jsonl", "--no-user-rules", then=f"{redirect} ./articles.jsonl", cwd=folder)
        assert (result.returncode, result.stderr) == (1, "feedclean: error: ./articles.jsonl: is the output itself; skipped\n")
        assert len(lines_of((folder / "articles.jsonl").read_text(encoding="utf-8"))) == lines


def test_a_single_file_is_never_converted_into_itself(folder):
    dump = folder / "a.txt"
    before = dump.read_bytes()
    for output_format in ("md", "jsonl"):
        result = shell(str(dump), "--format", output_format, "--no-user-rules", then=f">> {shlex.quote(str(dump))}")
        assert (result.returncode, result.stderr) == (1, f"feedclean: error: {dump}: is the output itself; skipped\n")
        assert dump.read_bytes() == before


def test_an_error_line_stays_where_it_happened_in_the_output_with_stderr(folder):
    """`2>&1`: stdout, a file or a pipe, is buffered (as under cron: PYTHONUNBUFFERED unset); each
    input's lines are out before the next input's error line is."""
    command = [sys.executable, "-m", "feedclean", "convert", str(folder), "--format", "jsonl", "--no-user-rules"]
    buffered = {name: value for name, value in ENV.items() if name != "PYTHONUNBUFFERED"}
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=buffered, check=False)
    lines = result.stdout.splitlines()
    assert result.returncode == 1 and len(lines) == 3
    assert json.loads(lines[0])["url"] == "https://example.com/a" and json.loads(lines[2])["url"] == "https://example.com/c"
    assert lines[1] == f"feedclean: error: {folder / 'b.txt'}: file is empty"


@pytest.mark.parametrize("output_format", ["md", "json", "jsonl"])
@pytest.mark.parametrize("flag", ["--dry-run", "--dedupe", "--report"])
def test_what_only_a_folder_run_does_is_a_usage_error_for_stdin_and_a_single_file_too(
    runner, folder, tmp_path, output_format, flag
):
    """Reading stdin once ignored them (status 0, no report written); so did a single file in md or json."""
    report = tmp_path / "report.json"
    arguments = [flag, str(report)] if flag == "--report" else [flag]
    for paths, stdin in (([], (folder / "a.txt").read_text(encoding="utf-8")), (["-"], "x"), ([str(folder / "a.txt")], None)):
        result = runner.invoke(main, ["convert", *paths, "--format", output_format, *arguments], input=stdin)
        assert result.exit_code == 2 and result.stdout == "", result.output
        assert "--dry-run, --dedupe and --report need -o OUT" in result.stderr
        if flag == "--report":
            assert "need -o OUT" in json.loads(report.read_text(encoding="utf-8"))["error"]
            report.unlink()


def test_stdin_with_an_output_folder_is_a_usage_error_the_report_tells(runner, tmp_path):
    report = tmp_path / "report.json"
    result = runner.invoke(main, ["convert", "-o", str(tmp_path / "out"), "--report", str(report)], input="x")
    assert result.exit_code == 2 and "reading stdin writes the article to stdout" in result.stderr
    assert "reading stdin" in json.loads(report.read_text(encoding="utf-8"))["error"]
