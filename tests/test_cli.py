"""The command line through click's CliRunner: options, exit codes, messages."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner
from conftest import SAMPLES, make_dump, split_front_matter

from feedclean import __version__
from feedclean.cli import main

RFI = SAMPLES / "003_1fddeb10f9e1ef9b.txt"
SEEDS = [SAMPLES / "000_005ff02dac068fcc.txt", RFI]


@pytest.fixture
def runner():
    return CliRunner()


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
