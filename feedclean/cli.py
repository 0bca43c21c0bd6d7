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
    Main,
    Name,
    OutputPath,
    ReportingCommand,
    RulesFileError,
    Share,
    cpu_count,
    glob_option,
    load_rules,
    max_size_option,
    no_user_rules_option,
    output_file_option,
    output_target,
    quiet_option,
    refuse,
    rules_option,
    save_report,
    seconds_option,
    timeout_option,
    user_rules_file,
)
from .learndefaults import DEFAULT_MAX_CHARS, DEFAULT_MIN_ARTICLES, DEFAULT_MIN_SHARE
from .limits import DEFAULT_MAX_BYTES, DEFAULT_SETTLE_SECONDS
from .paths import STREAM_FORMATS, display_path, is_inside
from .rulesfile import MAX_RULES_BYTES
from .state import StateError
from .statefolder import LockBusy
from .stdio import (
    convert_to_stdout,
    guarded,
    read_one,
    stdin_bytes,
    stdout_failed,
    stdout_file,
    stream_to_stdout,
    to_stdout,
    write_output,
)
from .textrules import TEXT_RULE_MAX_CHARS
from .write import report_problem

if TYPE_CHECKING:
    from .progress import Reporter
    from .readback import Read

# The articles `feedclean feed` keeps: the newest, as many as a reader shows on a page or two.
FEED_LIMIT = 50
JSONL_WITH_OUTPUT = (
    "--format jsonl is one stream to stdout: drop -o and redirect it (> articles.jsonl); for a folder of files,"
    " one per article, use --format json"
)

CONVERT_HELP = """Convert RSS dumps to clean Markdown (or JSON) articles.

\b
PATH is a dump file or a folder of them (searched recursively; every
regular, non-hidden file is an input unless --glob narrows it). The output
for IN/a/b.txt is OUT/a/b.md; a feed file (RSS/Atom) IN/a/f.xml gives one
file per item in OUT/a/f/. With no PATH, or "-", one dump is read from stdin
and the article is written to stdout; so is a single file given without -o.
--format jsonl (no -o) streams every input's articles to stdout as JSON
Lines, in input order: one --format json object per line, nothing written
to disk; a bad input is one line on stderr and the stream goes on.

\b
Examples:
  feedclean convert samples/ -o out/              # a folder
  feedclean convert dumps/ -o site/ --format json  # JSON instead
  cat dump.txt | feedclean convert > article.md    # one dump through a pipe
  feedclean convert dump.txt --format json         # one file to stdout
  feedclean convert dumps/ --format jsonl > all.jsonl  # a folder, to stdout
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


@click.group(cls=Main, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
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


@main.command(cls=ReportingCommand, help=CONVERT_HELP)
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path, allow_dash=True))
@click.option(
    "-o",
    "--output",
    "output_dir",
    type=OutputPath(file_okay=False, path_type=Path),
    help="Output folder (created if needed). Required unless reading stdin, one file, or --format jsonl.",
)
@click.option(
    "-f",
    "--format",
    "output_format",
    type=click.Choice(STREAM_FORMATS),
    default="md",
    show_default=True,
    help="md: YAML front matter + CommonMark. json: one object per article. jsonl: those objects one per line, to stdout.",
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
        save_report(report_file, {"error": error.format_message()})
        raise
    if output_format == "jsonl" and output_dir is not None:
        refuse(report_file, JSONL_WITH_OUTPUT)
    from_stdin = not paths or paths == (Path("-"),)
    if from_stdin and output_dir is not None:
        refuse(report_file, "reading stdin writes the article to stdout; drop -o, or give files or folders to convert")
    if output_dir is None and (dry_run or dedupe or report_file is not None):
        refuse(report_file, "--dry-run, --dedupe and --report need -o OUT: output to stdout has no folder or run")
    if from_stdin:
        convert_to_stdout(stdin_bytes(max_size), "<stdin>", output_format, rules, max_size, timeout)
        return
    if Path("-") in paths:
        refuse(report_file, "'-' (stdin) cannot be mixed with files or folders")
    if output_dir is None:
        if output_format == "jsonl":
            stream_to_stdout(list(paths), output_format, rules, globs, max_size, timeout, quiet)
            return
        if len(paths) == 1 and not paths[0].is_dir():
            name = display_path(str(paths[0]))
            convert_to_stdout(read_one(paths[0], name, max_size), name, output_format, rules, max_size, timeout)
            return
        refuse(report_file, "give an output folder with -o OUT (a single file, stdin, or --format jsonl may go to stdout)")
    from .batch import Options, run
    from .paths import discover
    from .progress import ListingFailed, Reporter

    for path in paths:
        if path.is_dir() and output_dir.exists() and os.path.samefile(path, output_dir):
            refuse(report_file, f"the output folder {output_dir} is the input folder {path}; choose another -o")
        if report_file is not None and path.is_dir() and is_inside(report_file, path):
            raise click.UsageError(f"the report {report_file} is inside the input folder {path}, so it would be an input")
    if report_file is not None and (problem := report_problem(report_file)):
        raise click.UsageError(f"the report {report_file}: {problem}")
    options = Options(
        output_dir=output_dir,
        output_format=output_format,
        jobs=jobs or cpu_count(),
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
        save_report(report_file, {"error": f"another run ({busy}) is writing to {output_dir}"})
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
    if not save_report(report_file, summary.as_dict()) or summary.failures or summary.state_error:
        sys.exit(EXIT_FAILED)


def _stop_run(reporter: Reporter, report_file: Path | None, problem: str) -> NoReturn:
    reporter.stop()
    save_report(report_file, {"error": problem})
    raise CommandError(problem)


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
blocks whose text recurs in at least --min-articles articles of a site and
in at least --min-share of that site's articles (a duplicate dump of one
article counts once; headings, leads, captions, table cells and an
article's whole text are never learned). Writes one [[rule]] per site (news.
and tech.example.com count as one), naming the hosts it was seen on, each
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
@output_file_option("Write the rules file here (replacing only a file learn wrote); default: stdout.")
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
    help="…and at least this share of its site's articles (0.2: one in five).",
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
    from .learn import target_problem as learn_target_problem

    ruleset = load_rules(rule_files, not no_user_rules)
    read_rules = [*rule_files, *([] if no_user_rules else [user_rules_file()])]
    target = output_target(output_file, learn_target_problem, paths, read_rules)
    options = LearnOptions(min_articles, min_share, max_chars, globs, max_size, timeout)

    def say_failure(name: str, problem: str | None) -> None:
        if problem is not None:
            click.echo(f"feedclean: error: {name}: {problem}", err=True)

    learned = learn_rules(paths, ruleset, options, say_failure, stdout_file() if target is None else None)
    data = rules_text(learned).encode("utf-8")
    if len(data) > MAX_RULES_BYTES:
        raise CommandError(
            f"the learned rules come to {len(data):,} bytes, more than a rules file may hold ({MAX_RULES_BYTES:,}):"
            " raise --min-articles or --min-share, or learn from fewer folders at a time"
        )
    write_output(data, target, output_file)
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


FEED_HELP = """Write an Atom feed of the newest articles in a folder convert wrote.

\b
Reads the articles in FOLDER (the .md and .json files convert writes;
hidden files and FOLDER/.feedclean skipped, any other such file skipped
with a warning), keeps one entry per article (copies with the same id and
text count once), the newest first by published (never later than
fetched), and writes an Atom 1.0 feed: each entry with its id, title, link,
dates, source, and the body as HTML rendered from its Markdown (raw HTML
off, so no script or event handler gets through; an article over 512 KiB
is a note with its link). The same folder gives the same bytes, but an
article with no date is dated by its file's modification time, so a copy
made without cp -p changes the feed; the feed's date is its newest entry's.

\b
Examples:
  feedclean convert samples/ -o out/ && feedclean feed out/ -o clean.atom
  feedclean feed out/ --source RFI --limit 20 --title "RFI, cleaned"
  feedclean feed out/ > clean.atom                # to stdout
\b
  # crontab: convert, then refresh the feed (written atomically)
  */10 * * * * feedclean convert -q ~/dumps -o ~/articles; feedclean feed -q ~/articles -o ~/www/clean.atom

\b
Exit status: 0 written, 1 written without some files that could not be read
(each named on stderr) or not written at all, 2 usage error.
"""


@main.command(help=FEED_HELP)
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@output_file_option("Write the feed here, atomically (replacing only a feed feedclean wrote); default: stdout.")
@click.option("--title", show_default="feedclean: FOLDER's name", help="The feed's title.")
@click.option("--limit", type=click.IntRange(min=1), default=FEED_LIMIT, show_default=True, help="The newest this many articles.")
@click.option(
    "--source",
    "sources",
    type=Name(),
    multiple=True,
    metavar="NAME",
    help="Only articles from this source, by its name or domain (any case: RFI, rfi.fr); repeatable.",
)
@max_size_option
@quiet_option
def feed(folder, output_file, title, limit, sources, max_size, quiet) -> None:
    from .atom import MAX_ENTRY_MARKDOWN, FeedOptions, build_feed, target_problem

    target = output_target(output_file, target_problem, folder)
    output = stdout_file() if target is None else None
    options = FeedOptions((title or "").strip() or None, limit, sources, max_size, output)
    unreadable = []

    def say_skipped(read: Read) -> None:
        if read.unreadable:
            unreadable.append(read.name)
            click.echo(f"feedclean: error: {read.name}: {read.problem}", err=True)
        else:
            say_warning(read.name, read.problem)

    def say_cut(name: str) -> None:
        say_warning(name, f"over {MAX_ENTRY_MARKDOWN // 1024} KiB of Markdown: its entry is a note with its link")

    def say_warning(name: str, problem: str | None) -> None:
        if not quiet:
            click.echo(f"feedclean: warning: {name}: {problem}", err=True)

    write_output(build_feed(folder, options, say_skipped, say_cut), target, output_file)
    if unreadable:
        sys.exit(EXIT_FAILED)


def _counted(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"
