"""What a run allows each input: how big it may be, how calm before it is read, how long it may take.

The time limit is a SIGALRM timer, so it only works on a Unix main thread
(the command line and its worker processes); elsewhere there is no limit.
Regular expressions and Python code are interrupted; a C call finishes first.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any, TypeVar

# The largest input converted by default (--max-size).
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
# An input modified this recently may still be being written: wait until it has been calm this long.
DEFAULT_SETTLE_SECONDS = 1.0
# The most one input may take to convert (a pathological document, a backtracking rule).
DEFAULT_TIMEOUT_SECONDS = 60.0

_Result = TypeVar("_Result")


class TimedOut(Exception):
    """The conversion of one input took longer than the time limit."""


def over_size_limit(limit: int, size: int | None = None) -> str:
    """What to tell the user of an input over --max-size; `size` None when only so much was read (stdin)."""
    if size is None:
        return f"more than {limit:,} bytes, over the limit (raise it with --max-size)"
    return f"file is {size:,} bytes, over the {limit:,}-byte limit (raise it with --max-size)"


def over_time_limit(seconds: float) -> str:
    """What to tell the user: the usual culprit is a user rule's regex, so say where to look."""
    return f"took longer than {seconds:g} s to convert (raise the limit with --timeout; check user rules' regexes)"


def within_time_limit(seconds: float, function: Callable[..., _Result], *arguments: Any, **keywords: Any) -> _Result:
    """Call `function`, raising TimedOut after `seconds` (0: no limit).

    The SIGALRM handler is installed once and stays (the command line owns
    its process); each call only arms and disarms the timer.
    """
    if seconds <= 0 or not hasattr(signal, "setitimer") or not _on_main_thread():
        return function(*arguments, **keywords)
    if signal.getsignal(signal.SIGALRM) is not _expire:
        signal.signal(signal.SIGALRM, _expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return function(*arguments, **keywords)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def _expire(signum: int, frame: object) -> None:
    raise TimedOut


def _on_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()
