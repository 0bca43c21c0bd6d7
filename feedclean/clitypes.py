"""The command line's value types, shared options, command classes, rules loading and --report
and -o handling: what every command parses the same way, kept apart so that cli.py reads as the
list of commands."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, NoReturn

import click

from .limits import DEFAULT_MAX_BYTES, DEFAULT_TIMEOUT_SECONDS
from .paths import display_path
from .rules import BUILTIN, RuleSet
from .rulesfile import RulesError
from .write import write_report

EXIT_FAILED = 1
EXIT_LOCKED = 3
EXIT_INTERRUPTED = 130


class CommandError(click.ClickException):
    """A problem the user can fix (not a mistyped command line): one line, no usage banner."""

    def show(self, file=None) -> None:
        click.echo(f"feedclean: error: {self.format_message()}", err=True)


class RulesFileError(CommandError):
    """A broken rules file: status 2 like a usage error, since nothing was converted."""

    exit_code = 2


class ByteSize(click.ParamType):
    """A size such as 500000, 800k, 20M or 1G."""

    name = "size"
    _UNITS: ClassVar[dict[str, int]] = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
    _LARGEST = 16 * 1024**3

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            return value
        text = str(value).strip().lower().removesuffix("b").removesuffix("i")
        unit = text[-1:] if text[-1:] in ("k", "m", "g") else ""
        number = text[: len(text) - len(unit)]
        try:
            size = int(float(number) * self._UNITS[unit])
        except (ValueError, OverflowError):
            self.fail(f"{value!r} is not a size like 800k, 20M or 1G", param, ctx)
        if size <= 0:
            self.fail("the size limit must be positive", param, ctx)
        if size > self._LARGEST:
            self.fail(f"{value!r} is more than feedclean reads of one input (16G)", param, ctx)
        return size


class Seconds(click.ParamType):
    """A duration: 0 or more seconds, fractions allowed (tests and impatient users go below one), at most a day."""

    name = "seconds"
    _LONGEST = 24 * 3600.0

    def convert(self, value, param, ctx):
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        if not 0 <= seconds <= self._LONGEST:  # also refuses nan
            self.fail(f"{value!r} is not between 0 and {self._LONGEST:g} seconds", param, ctx)
        return seconds


class OutputPath(click.Path):
    """A path to write to; an empty one (`-o "$OUT"` with OUT unset) is refused, not read as "."."""

    def convert(self, value, param, ctx):
        if isinstance(value, str) and not value.strip():
            self.fail("an empty path (is a shell variable unset?)", param, ctx)
        return super().convert(value, param, ctx)


class Name(click.ParamType):
    """A name to pick by, its surrounding spaces stripped (`" RFI"` is RFI); an empty one
    (`--source "$SITE"` with SITE unset) is refused: it matches nothing, and the feed it picked
    would be published empty without a word."""

    name = "name"

    def convert(self, value, param, ctx):
        name = str(value).strip()
        if not name:
            self.fail("an empty name (is a shell variable unset?)", param, ctx)
        return name


def user_rules_file() -> Path:
    """~/.config/feedclean/rules.toml, or under $XDG_CONFIG_HOME when set."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "feedclean" / "rules.toml"


def load_rules(files: tuple[Path, ...], use_user_rules: bool) -> RuleSet:
    """The built-in rules, then the user's default file (if any), then each --rules file."""
    chosen = list(files)
    default = user_rules_file()
    try:
        if use_user_rules and default.exists():  # a folder or FIFO there is an error, not silence
            chosen.insert(0, default)
    except OSError as error:
        raise RulesFileError(f"rules: cannot tell whether {default} exists ({error.strerror}); use --no-user-rules") from None
    try:
        return BUILTIN.with_files(chosen)
    except RulesError as error:
        raise RulesFileError(f"rules: {error}") from None


rules_option = click.option(
    "--rules",
    "rule_files",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="A rules file (TOML) to add to the built-in rules; repeatable.",
)
no_user_rules_option = click.option(
    "--no-user-rules",
    is_flag=True,
    help="Ignore the user rules file (~/.config/feedclean/rules.toml, under $XDG_CONFIG_HOME when set).",
)


def seconds_option(name: str, default: float, help_text: str) -> Callable:
    return click.option(name, type=Seconds(), default=default, show_default=True, metavar="SECONDS", help=help_text)


timeout_option = seconds_option(
    "--timeout", DEFAULT_TIMEOUT_SECONDS, "Fail an input that takes longer than this to convert (0: no limit)."
)
glob_option = click.option(
    "--glob",
    "globs",
    multiple=True,
    metavar="PATTERN",
    help="Only inputs whose path in the folder matches, e.g. '*.txt'; repeatable.",
)
max_size_option = click.option(
    "--max-size", type=ByteSize(), default=DEFAULT_MAX_BYTES, show_default="20M", help="Skip (as failed) inputs larger than this."
)
quiet_option = click.option("-q", "--quiet", is_flag=True, help="Print errors only.")


def output_file_option(help_text: str) -> Callable:
    """-o for a command that writes one file (to stdout without it); see output_target."""
    return click.option("-o", "--output", "output_file", type=OutputPath(dir_okay=False, path_type=Path), help=help_text)


class Share(click.ParamType):
    """A share of a host's articles: more than 0, at most 1 (0.2 is one in five)."""

    name = "share"

    def convert(self, value, param, ctx):
        try:
            share = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not 0 < share <= 1:  # also refuses nan
            self.fail(f"{value!r} is not a share above 0 and at most 1 (0.2 is one article in five)", param, ctx)
        return share


class Main(click.Group):
    """Ctrl-C anywhere is status 130 and one line, as docs/use.md says (click would say "Aborted!", 1)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            click.echo("feedclean: interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)


class ReportingCommand(click.Command):
    """A command line that click refuses still gets --report's {"error": …}, so a cron job whose
    dumps folder went missing never leaves monitoring reading the last good report."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        given = list(args)  # click consumes `args`
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as error:
            report = _report_argument(given)
            if report:
                save_report(Path(report), {"error": error.format_message()})
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


def refuse(report_file: Path | None, problem: str) -> NoReturn:
    """A usage error that stops the run before it starts: the report says so, never stays stale."""
    save_report(report_file, {"error": problem})
    raise click.UsageError(problem)


def save_report(report_file: Path | None, report: dict) -> bool:
    """Write the report; False, said in one line, when it cannot be."""
    problem = write_report(report_file, report) if report_file is not None else None
    if problem is not None:
        click.echo(f"feedclean: error: the report {report_file}: {problem}", err=True)
    return problem is None


def cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return os.cpu_count() or 1


def output_target(output_file: Path | None, problem_of: Callable[..., str | None], *context: object) -> Path | None:
    """Where -o writes (through a symlink, to where it points), or a usage error naming what
    `problem_of(target, *context)` finds wrong with it; None for stdout."""
    if output_file is None:
        return None
    target = Path(os.path.realpath(output_file))
    problem = problem_of(target, *context)
    if problem is not None:
        raise click.UsageError(f"-o {display_path(str(output_file))}: {problem}")
    return target
