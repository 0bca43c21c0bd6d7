"""The command line: parses options and calls the library, nothing more."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from . import __version__
from .clitypes import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_LOCKED,
    ByteSize,
    CommandError,
    OutputPath,
    RulesFileError,
    Share,
    glob_option,
    load_rules,
    max_size_option,
    no_user_rules_option,
    quiet_option,
    rules_option,
    seconds_option,
    timeout_option,
    user_rules_file,
)
from .learn import DEFAULT_MAX_CHARS, DEFAULT_MIN_ARTICLES, DEFAULT_MIN_SHARE
from .learn import HEADER_START as LEARNED_HEADER
from .limits import DEFAULT_MAX_BYTES, DEFAULT_SETTLE_SECONDS
from .paths import FORMATS, display_path, is_inside
from .rulesfile import MAX_RULES_BYTES
from .state import StateError
from .statefolder import LockBusy
from .stdio import convert_stdin, convert_to_stdout, guarded, read_one, stdin_bytes, stdout_failed, to_stdout
from .textrules import TEXT_RULE_MAX_CHARS
from .write import replacement_problem, report_problem, write_atomic, write_report

if TYPE_CHECKING:
    from .progress import Reporter

CONVERT_HELP = """Convert RSS dumps to clean Markdown (or JSON) articles.

\b
PATH is a dump file or a folder of them (searched recursively; every
regular, non-hidden file is an input unless --glob narrows it). The output
for IN/a/b.txt is OUT/a/b.md; a feed file (RSS/Atom) IN/a/f.xml gives one
file per item in OUT/a/f/. With no PATH, or "-", one dump is read from stdin
and the article is written to stdout; so is a single file given without -o.

\b
Examples:
  feedclean convert samples/ -o out/              # a folder
  feedclean convert dumps/ -o site/ --format json  # JSON instead
  cat dump.txt | feedclean convert > article.md    # one dump through a pipe
  feedclean convert dump.txt --format json         # one file to stdout
  feedclean convert --dry-run dumps/ -o out/       # what would change, and why
\b
  # crontab: every 10 minutes, quiet unless something fails
  */10 * * * * feedclean convert -q ~/dumps -o ~/articles --report ~/feedclean-report.json

\b
Runs are incremental: an input is converted again only when its content,
the options, the rules or feedclean's version changed (--force redoes all).
Exit status: 0 all converted, 1 some inputs failed (each named on stderr),
2 usage error, 3 another run holds the output folder (with --no-wait).
"""


class _Main(click.Group):
    """Ctrl-C anywhere is status 130 and one line, as docs/use.md says (click would say "Aborted!", 1)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            click.echo("feedclean: interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)


class _ReportingCommand(click.Command):
    """A command line that click refuses still gets --report's {"error": …}, so a cron job whose
    dumps folder went missing never leaves monitoring reading the last good report."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        given = list(args)  # click consumes `args`
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as error:
            report = _report_argument(given)
            if report:
                _write_report(Path(report), {"error": error.format_message()})
            raise


def _report_argument(args: list[str]) -> str | None:
    for index, argument in enumerate(args):
        if argument == "--":
            break
        if argument == "--report" and index + 1 < len(args):
            return args[index + 1].strip() or None
        if argument.startswith("--report="):
            return argument.partition("=")[2].strip() or None
    return None


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "-V", "--version", prog_name="feedclean")
def main() -> None:
    """feedclean: RSS dumps in, clean Markdown or JSON articles out.

    \b
    Strips share widgets, self-promotion, feed-proxy footers, trackers and
    active content, unwraps image-proxy URLs, and keeps the article: its
    text, links, images with captions, and metadata (title, canonical URL,
    source, publish and fetch times, language, lead, rights).

    \b
    Start with:  feedclean convert --help
    """


@main.command(cls=_ReportingCommand, help=CONVERT_HELP)
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path, allow_dash=True))
@click.option(
    "-o",
    "--output",
    "output_dir",
    type=OutputPath(file_okay=False, path_type=Path),
    help="Output folder (created if needed). Required unless reading stdin.",
)
@click.option(
    "-f",
    "--format",
    "output_format",
    type=click.Choice(FORMATS),
    default="md",
    show_default=True,
    help="md: YAML front matter + CommonMark. json: one object per article.",
)
@glob_option
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=0),
    default=0,
    help="Most worker processes; 0 (default) means one per CPU. Output is the same for any value.",
)
@click.option("--force", is_flag=True, help="Convert every input again, even unchanged ones.")
@click.option("--dedupe", is_flag=True, help="Keep one output per canonical URL (the latest fetch wins).")
@click.option("--dry-run", is_flag=True, help="List what would be converted and why; write nothing.")
@click.option(
    "--wait/--no-wait",
    default=True,
    show_default=True,
    help="If another run is writing to the same output folder: wait for it, or exit with status 3.",
)
@max_size_option
@click.option(
    "--report",
    "report_file",
    type=OutputPath(dir_okay=False, path_type=Path),
    help="Also write the run's summary and failures to this JSON file (never inside an input folder).",
)
@seconds_option(
    "--settle",
    DEFAULT_SETTLE_SECONDS,
    "An input modified less than this long ago may still be being written: wait until it is that old.",
)
@timeout_option
@quiet_option
@rules_option
@no_user_rules_option
def convert(
    paths,
    output_dir,
    output_format,
    globs,
    jobs,
    force,
    dedupe,
    dry_run,
    wait,
    max_size,
    report_file,
    settle,
    timeout,
    quiet,
    rule_files,
    no_user_rules,
) -> None:
    try:
        rules = load_rules(rule_files, not no_user_rules)
    except RulesFileError as error:
        _write_report(report_file, {"error": error.format_message()})
        raise
    if not paths or paths == (Path("-"),):
        convert_stdin(output_dir, output_format, rules, max_size, timeout)
        return
    if Path("-") in paths:
        _refuse(report_file, "'-' (stdin) cannot be mixed with files or folders")
    if output_dir is None:
        if len(paths) == 1 and not paths[0].is_dir():
            name = display_path(str(paths[0]))
            convert_to_stdout(read_one(paths[0], name, max_size), name, output_format, rules, max_size, timeout)
            return
        _refuse(report_file, "give an output folder with -o OUT (a single file, or stdin, may go to stdout)")
    from .batch import Options, run
    from .paths import discover
    from .progress import ListingFailed, Reporter

    for path in paths:
        if path.is_dir() and output_dir.exists() and os.path.samefile(path, output_dir):
            _refuse(report_file, f"the output folder {output_dir} is the input folder {path}; choose another -o")
        if report_file is not None and path.is_dir() and is_inside(report_file, path):
            raise click.UsageError(f"the report {report_file} is inside the input folder {path}, so it would be an input")
    if report_file is not None and (problem := report_problem(report_file)):
        raise click.UsageError(f"the report {report_file}: {problem}")
    options = Options(
        output_dir=output_dir,
        output_format=output_format,
        jobs=jobs or _cpu_count(),
        force=force,
        dedupe=dedupe,
        dry_run=dry_run,
        globs=globs,
        max_bytes=max_size,
        wait=wait,
        settle=settle,
        timeout=timeout,
    )
    reporter = Reporter(quiet=quiet)
    reporter.start(sum(1 for _ in discover(list(paths), output_dir, globs)) if reporter.fancy else None)
    try:
        summary = run(list(paths), options, rules, reporter, on_wait=reporter.waiting)
    except LockBusy as busy:
        reporter.stop()
        _write_report(report_file, {"error": f"another run ({busy}) is writing to {output_dir}"})
        click.echo(f"feedclean: another run ({busy}) is writing to {output_dir}; not waiting (--no-wait)", err=True)
        sys.exit(EXIT_LOCKED)
    except ListingFailed as failed:
        stdout_failed(failed.__cause__)
    except StateError as error:
        _stop_run(reporter, report_file, str(error))
    except OSError as error:
        where = f" ({error.filename})" if error.filename and os.fspath(error.filename) != os.fspath(output_dir) else ""
        _stop_run(reporter, report_file, f"cannot use output folder {output_dir}: {error.strerror or error}{where}")
    except KeyboardInterrupt:
        reporter.stop()
        click.echo("feedclean: interrupted; what was written is complete, the next run converts the rest", err=True)
        sys.exit(EXIT_INTERRUPTED)
    if dry_run:
        with to_stdout():  # the listing's last lines, written now, where a full disk can be told
            pass
    reporter.finish(summary)
    if summary.state_error:
        click.echo(f"feedclean: error: {summary.state_error}", err=True)
    if not _write_report(report_file, summary.as_dict()) or summary.failures or summary.state_error:
        sys.exit(EXIT_FAILED)


def _stop_run(reporter: Reporter, report_file: Path | None, problem: str) -> NoReturn:
    reporter.stop()
    _write_report(report_file, {"error": problem})
    raise CommandError(problem)


def _refuse(report_file: Path | None, problem: str) -> NoReturn:
    """A usage error that stops the run before it starts: the report says so, never stays stale."""
    _write_report(report_file, {"error": problem})
    raise click.UsageError(problem)


def _write_report(report_file: Path | None, report: dict) -> bool:
    """Write the report; False, said in one line, when it cannot be."""
    problem = write_report(report_file, report) if report_file is not None else None
    if problem is not None:
        click.echo(f"feedclean: error: the report {report_file}: {problem}", err=True)
    return problem is None


def _cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return os.cpu_count() or 1


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the rules as JSON, for scripts.")
@rules_option
@no_user_rules_option
def rules(as_json, rule_files, no_user_rules) -> None:
    """List the rules in force: built-in, then ~/.config/feedclean/rules.toml, then each --rules file.

    \b
    Examples:
      feedclean rules
      feedclean rules --rules mysite.toml --json | jq '.[-1]'
    """
    from .explain import print_rules, rules_listing

    ruleset = load_rules(rule_files, not no_user_rules)
    listing = rules_listing(ruleset)
    with to_stdout():
        if as_json:
            click.echo(json.dumps(listing, ensure_ascii=False, indent=2))
        else:
            print_rules(listing, sys.stdout)


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON instead of a tree.")
@click.option("--max-size", type=ByteSize(), default=DEFAULT_MAX_BYTES, show_default="20M", help="Refuse larger inputs.")
@timeout_option
@rules_option
@no_user_rules_option
def explain(file, as_json, max_size, timeout, rule_files, no_user_rules) -> None:
    """Show what the cleaning does to one dump, and why.

    \b
    Lists each removed element (a short excerpt) with the rule that removed
    it, each rewritten URL before and after, and the metadata found with
    where it came from. Use it to see why something went missing, or to
    check a rule you are writing:
      feedclean explain samples/003_1fddeb10f9e1ef9b.txt
      feedclean explain --rules mysite.toml dump.txt --json
    """
    from .explain import explain as explain_dump
    from .explain import print_explanation

    ruleset = load_rules(rule_files, not no_user_rules)
    name = "<stdin>" if str(file) == "-" else display_path(str(file))
    data = stdin_bytes(max_size) if name == "<stdin>" else read_one(file, name, max_size)
    report = guarded(name, timeout, explain_dump, data, name, ruleset, max_size)
    with to_stdout():
        if as_json:
            click.echo(json.dumps(report, ensure_ascii=False, indent=2))
        else:
            print_explanation(report, sys.stdout)


LEARN_HELP = """Learn each publisher's boilerplate from its own dumps, as a rules file to review.

\b
Reads every input under PATH as convert finds them (hidden files skipped,
--glob narrows), cleans it with the rules in force, and keeps the short
blocks whose text recurs in at least --min-articles articles of a host and
in at least --min-share of that host's articles (a duplicate dump of one
article counts once; headings, leads, captions, table cells and an
article's whole text are never learned). Writes one [[rule]] per host, each
sentence a strip_text pattern under a comment saying how many articles
carried it and one input that did. Nothing is applied by itself: review
the file, delete what you disagree with, then pass it to convert with
--rules, or append it to ~/.config/feedclean/rules.toml.

\b
Examples:
  feedclean learn dumps/ -o learned.toml            # then review learned.toml
  feedclean learn dumps/nyt --glob '*.txt'          # one publisher, to stdout
  feedclean convert dumps/ -o out/ --rules learned.toml
  feedclean explain --rules learned.toml dumps/nyt/1.txt   # names the learned rule
\b
  # crontab: every Sunday, learn what your rules miss, into a file to review
  0 4 * * 0 feedclean learn -q ~/dumps -o ~/feedclean-learned.toml

\b
Exit status: 0 learned, 1 some inputs failed (each named on stderr; the
file is written all the same), 2 usage error (nothing was read).
"""


@main.command(help=LEARN_HELP)
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "-o",
    "--output",
    "output_file",
    type=OutputPath(dir_okay=False, path_type=Path),
    help="Write the rules file here (replacing only a file learn wrote); default: stdout.",
)
@click.option(
    "--min-articles",
    type=click.IntRange(min=2),
    default=DEFAULT_MIN_ARTICLES,
    show_default=True,
    help="A text is learned only if at least this many articles of its host hold it.",
)
@click.option(
    "--min-share",
    type=Share(),
    default=DEFAULT_MIN_SHARE,
    show_default=True,
    help="…and at least this share of its host's articles (0.2: one in five).",
)
@click.option(
    "--max-chars",
    type=click.IntRange(1, TEXT_RULE_MAX_CHARS),
    default=DEFAULT_MAX_CHARS,
    show_default=True,
    help="Only blocks of at most this many characters are learned (longer ones are prose).",
)
@glob_option
@max_size_option
@timeout_option
@quiet_option
@rules_option
@no_user_rules_option
def learn(
    paths, output_file, min_articles, min_share, max_chars, globs, max_size, timeout, quiet, rule_files, no_user_rules
) -> None:
    from .learn import LearnOptions, rules_text
    from .learn import learn as learn_rules

    ruleset = load_rules(rule_files, not no_user_rules)
    read_rules = [*rule_files, *([] if no_user_rules else [user_rules_file()])]
    target = _learn_target(output_file, paths, read_rules) if output_file is not None else None
    options = LearnOptions(min_articles, min_share, max_chars, globs, max_size, timeout)

    def say_failure(name: str, problem: str | None) -> None:
        if problem is not None:
            click.echo(f"feedclean: error: {name}: {problem}", err=True)

    learned = learn_rules(paths, ruleset, options, say_failure)
    data = rules_text(learned).encode("utf-8")
    if len(data) > MAX_RULES_BYTES:
        raise CommandError(
            f"the learned rules come to {len(data):,} bytes, more than a rules file may hold ({MAX_RULES_BYTES:,}):"
            " raise --min-articles or --min-share, or learn from fewer folders at a time"
        )
    if target is None:
        with to_stdout():
            sys.stdout.buffer.write(data)
    else:
        try:
            write_atomic(target, data)
        except OSError as error:
            raise CommandError(f"cannot write {output_file}: {error.strerror or error}") from None
    if not quiet:
        unknown = f" (and {learned.without_host:,} without a host name)" if learned.without_host else ""
        failed = f"; {_counted(len(learned.failures), 'input')} failed" if learned.failures else ""
        click.echo(
            f"feedclean: learned {_counted(learned.sentences, 'sentence')} for {_counted(len(learned.rules), 'host')}"
            f" from {_counted(learned.articles, 'article')}{unknown}{failed}",
            err=True,
        )
    if learned.failures:
        sys.exit(EXIT_FAILED)


def _learn_target(output_file: Path, paths: tuple[Path, ...], rule_files: list[Path]) -> Path:
    """Where -o writes (through a symlink, to where it points), or a usage error: never onto an
    input or into an input folder (the next run would read it as a dump), never onto a rules
    file learning reads (its sentences, already removed, would not be learned again and would be
    lost), and only over an earlier learned file or an empty one."""
    target = Path(os.path.realpath(output_file))
    shown = display_path(str(output_file))
    for path in paths:
        if is_inside(target, path):
            where = "inside the input folder" if path.is_dir() else "the input"
            raise click.UsageError(f"-o {shown} is {where} {display_path(str(path))}; write the rules elsewhere")
    for rules_file in rule_files:
        if is_inside(target, rules_file):
            raise click.UsageError(
                f"-o {shown} is the rules file {display_path(str(rules_file))}, which learn and convert read: write"
                " the learned rules elsewhere, review them, then append what you keep"
            )
    problem = replacement_problem(target, (LEARNED_HEADER.encode(),), "a file feedclean learn wrote", "-o")
    if problem is not None:
        raise click.UsageError(f"-o {shown}: {problem}")
    return target


def _counted(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"
