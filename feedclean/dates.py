"""Publish dates: a site's own formats in its own time zone, then ISO 8601, then dateutil.

A date line is short text that is nothing but a date. Site formats come from
the rules (`date_format`, `timezone`); a naive time is read in the site's
zone. A publish time after the fetch time is impossible, so an ambiguous
day/month reading that lands in the future is dropped in favour of the other.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, tzinfo

_MAX_DATE_CHARS = 64
# Two far-apart defaults: a field that dateutil filled from them was not in the text.
_DEFAULTS = (datetime(1900, 1, 1, 0, 0), datetime(1904, 2, 2, 0, 0))
# Unambiguous zone abbreviations, as UTC offsets in seconds (CST, IST … mean
# different zones in different countries, so they are not here).
ZONE_ABBREVIATIONS = {
    "UTC": 0, "GMT": 0, "Z": 0, "BST": 3600, "CET": 3600, "CEST": 7200, "EET": 7200, "EEST": 10800,
    "MSK": 10800, "EST": -18000, "EDT": -14400, "CDT": -18000, "MST": -25200, "MDT": -21600,
    "PST": -28800, "PDT": -25200, "JST": 32400, "KST": 32400, "HKT": 28800, "SGT": 28800,
}  # fmt: skip
# strptime's own patterns for the numeric directives (Lib/_strptime.py).
_NUMERIC_DIRECTIVES = {
    "Y": r"\d\d\d\d", "y": r"\d\d", "m": r"1[0-2]|0[1-9]|[1-9]", "d": r"3[01]|[12]\d|0[1-9]|[1-9]| [1-9]",
    "H": r"2[0-3]|[0-1]\d|\d", "M": r"[0-5]\d|\d", "S": r"6[0-1]|[0-5]\d|\d", "f": r"[0-9]{1,6}",
}  # fmt: skip
# The groups DateFormat.read takes from a match, in one call.
_FIELDS = ("Y", "y", "m", "d", "H", "M", "S", "f")
# Chinese half-day words before a time, as dateutil's AM/PM after it.
_HALF_DAY = re.compile(r"(上午|早上|凌晨|下午|晚上|中午)\s*(\d{1,2}[:：]\d{2}(?:[:：]\d{2})?)")
_AFTERNOON = frozenset(("下午", "晚上", "中午"))
# CJK date markers as the separators dateutil knows ("2024年4月3日 10时30分").
_CJK_DATE_MARKS = str.maketrans({"年": "-", "月": "-", "日": " ", "时": ":", "時": ":", "点": ":", "分": " ", "秒": " "})


_FREE_FORM = "a free-form date (dateutil)"


def parse_date_line(
    text: str, formats: tuple[DateFormat, ...], zone: tzinfo | None, fetched: datetime | None
) -> tuple[datetime, str] | None:
    """The moment a date-only text names and how it was read, or None if it is not (only) a date.

    The site's own formats decide when one reads the text, even as a time
    after the fetch (the caller then reports the date line as impossible
    rather than read it another way).
    """
    text = text.strip()
    if not (6 <= len(text) <= _MAX_DATE_CHARS) or sum(map(str.isdigit, text)) < 4:
        return None
    zone = zone or UTC
    exact = _exact_reading(text, formats, zone)
    if exact is not None:
        return exact
    readings = list(_dateutil_readings(text, zone))
    if not readings:
        return None
    if fetched is None:
        return readings[0], _FREE_FORM
    # Of a day-first and a month-first reading, the one nearest before the fetch is the likelier.
    before = [moment for moment in readings if moment <= fetched]
    return (max(before) if before else min(readings)), _FREE_FORM


def parse_iso(text: str, zone: tzinfo | None) -> datetime | None:
    """An ISO 8601 time (from metadata such as <time datetime>), naive ones read in `zone`."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return moment if moment.tzinfo else _localized(moment, zone or UTC)


def _localized(naive: datetime, zone: tzinfo) -> datetime | None:
    """A wall-clock time read in `zone`; one that a spring-forward gap skips (02:30 in Paris on
    the last Sunday of March) comes out as the instant it names, in the offset then in force.
    None for a time that has no instant in UTC (the year 1 east of Greenwich, 9999 west of it)."""
    moment = naive.replace(tzinfo=zone)
    if zone is UTC:
        return moment
    try:
        return moment.astimezone(UTC).astimezone(zone)
    except OverflowError:
        return None


def _time_with_half_day(match: re.Match[str]) -> str:
    """ "下午5:05" as dateutil reads it: "5:05 PM"."""
    clock = match.group(2).replace("：", ":")
    return f" {clock} {'PM' if match.group(1) in _AFTERNOON else 'AM'} "


def _exact_reading(text: str, formats: tuple[DateFormat, ...], zone: tzinfo) -> tuple[datetime, str] | None:
    """The first of the site's formats that reads the text, else ISO 8601."""
    for date_format in formats:
        moment = date_format.read(text)
        if moment is None:
            continue
        if moment.tzinfo is None:
            moment = _localized(moment, UTC if date_format.pattern.endswith("Z") else zone)
        if moment is None:
            continue
        return moment, f"date_format '{date_format.pattern}' ({date_format.origin})"
    iso = parse_iso(text, zone)
    return None if iso is None else (iso, "ISO 8601")


class DateFormat:
    """A `strptime` format from the rules, compiled once into a regular expression.

    `datetime.strptime` re-reads the locale and re-assembles its result in
    Python on every call; the numeric directives dates lines use are read
    here with one match. A format with any other directive goes to strptime.
    """

    __slots__ = ("_regex", "origin", "pattern")

    def __init__(self, pattern: str, origin: str = "") -> None:
        self.pattern = pattern
        self.origin = origin
        self._regex = _compile_numeric_format(pattern)

    def read(self, text: str) -> datetime | None:
        """The naive (or, for %z, aware) time `text` gives in this format, or None."""
        if self._regex is None:
            try:
                return datetime.strptime(text, self.pattern)
            except ValueError:
                return None
        match = self._regex.fullmatch(text)
        if match is None:
            return None
        year, short_year, month, day, hour, minute, second, fraction = match.group(*_FIELDS)
        year = year or short_year or "1900"
        if len(year) == 2:
            year = ("19" if int(year) >= 69 else "20") + year
        try:
            return datetime(
                int(year), int(month or 1), int(day or 1), int(hour or 0),
                int(minute or 0), int(second or 0), int((fraction or "0").ljust(6, "0")),
            )  # fmt: skip
        except ValueError:
            return None


def date_format_problem(pattern: str) -> str | None:
    """Why `pattern` can never read a date line (a stray %, an unknown directive), or None."""
    if "%" not in pattern:
        return "it has no % directive"
    if _compile_numeric_format(pattern) is not None:
        return None
    try:
        datetime.strptime("", pattern)
    except ValueError as error:
        return None if "does not match" in str(error) else str(error)
    except re.error:  # strptime builds a regular expression with a group per directive
        return "a directive appears twice"
    return None


def _compile_numeric_format(pattern: str) -> re.Pattern[str] | None:
    """The regular expression `strptime` would build for `pattern`, or None if it uses other directives."""
    pieces = []
    used = set()
    position = 0
    while position < len(pattern):
        char = pattern[position]
        if char == "%":
            directive = pattern[position + 1 : position + 2]
            if directive == "%":
                pieces.append("%")
            elif directive in _NUMERIC_DIRECTIVES and directive not in used and not (directive in "Yy" and used & {"Y", "y"}):
                used.add(directive)
                pieces.append(f"(?P<{directive}>{_NUMERIC_DIRECTIVES[directive]})")
            else:
                return None
            position += 2
        elif char.isspace():
            while position < len(pattern) and pattern[position].isspace():
                position += 1
            pieces.append(r"\s+")
        else:
            pieces.append(re.escape(char))
            position += 1
    for name in _NUMERIC_DIRECTIVES:
        if name not in used:
            pieces.append(f"(?P<{name}>)?")
    return re.compile("".join(pieces), re.IGNORECASE)


def _dateutil_readings(text: str, zone: tzinfo) -> Iterator[datetime]:
    """Month-first and day-first readings of a free-form date, when both are complete.

    A date that starts with its year (2024-01-02, 2024/01/02) is always
    year-month-day, so it gets no day-first reading.
    """
    from dateutil import parser

    text = _HALF_DAY.sub(_time_with_half_day, text).translate(_CJK_DATE_MARKS)
    seen = set()
    year_first = text[:4].isdigit()
    for dayfirst in (False,) if year_first else (False, True):
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                readings = [
                    parser.parse(text, default=default, dayfirst=dayfirst, tzinfos=ZONE_ABBREVIATIONS) for default in _DEFAULTS
                ]
        except (ValueError, OverflowError, TypeError, LookupError):  # parser.ParserError is a ValueError
            return
        if any(issubclass(warning.category, parser.UnknownTimezoneWarning) for warning in caught):
            return  # "10:05 CST": which CST is unknowable, so no reading rather than a wrong one
        first, second = readings
        if (first.year, first.month, first.day) != (second.year, second.month, second.day) or not _has_usable_offset(first):
            return
        moment = first if first.tzinfo else _localized(first, zone)
        if moment is not None and moment not in seen:
            seen.add(moment)
            yield moment


def _has_usable_offset(moment: datetime) -> bool:
    """dateutil reads "+2400" as an offset of a whole day, which datetime refuses to use."""
    try:
        moment.utcoffset()
    except ValueError:
        return False
    return True


def isoformat(moment: datetime | None) -> str | None:
    """ISO 8601 with an offset, with milliseconds only when the source had them."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    spec = "milliseconds" if moment.microsecond else "seconds"
    return moment.isoformat(timespec=spec)
