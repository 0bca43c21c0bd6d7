"""Fuzz feedclean: convert thousands of mutated dumps and report any that crash it.

The CI property tests (tests/test_properties.py) run a few hundred inputs;
this script runs the same generators (tests/fuzzkit.py) at a scale CI cannot
afford, before a release or after a change to the pipeline:

    python scripts/fuzz.py --count 10000 --seed 1 --jobs 4

Each input is derived from (seed, index) alone, so a run is reproducible
whatever --jobs is, and any single input can be regenerated with
--only INDEX. An input that raises anything but feedclean.InputError, or
whose output breaks a promise (YAML front matter, JSON, CommonMark without
active content, determinism), is saved to the crash folder with its
traceback. Exit status: 0 no crash, 1 at least one.
"""

from __future__ import annotations

import argparse
import hashlib
import multiprocessing
import random
import re
import signal
import sys
import time
import traceback
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import fuzzkit  # beside the tests, which share it

import feedclean

# Per input, so one pathological input shows up as a crash instead of a hung run.
TIMEOUT_SECONDS = 60
# Share of inputs (in percent) per kind; the rest are mutated seeds.
GENERATED_PERCENT = 10
TEXT_PERCENT = 5
BYTES_PERCENT = 5
# Numbers that vary between inputs ("byte 123"), not those in names ("UTF-8", "GB18030").
_NUMBERS = re.compile(r"(?<![\w-])\d+(?:,\d{3})*")


@dataclass(frozen=True, slots=True)
class Result:
    """One input's fate: "ok", "rejected" (InputError, with its message) or "crash" (with the traceback)."""

    index: int
    kind: str
    status: str
    seconds: float
    message: str = ""
    data: bytes = b""


class _Timeout(Exception):
    pass


def generate(seed: int, index: int, pool: list[bytes]) -> tuple[str, bytes]:
    """Input number `index` of the run with `seed`, and what kind of input it is."""
    chooser = fuzzkit.RandomChooser(random.Random(f"{seed}:{index}"))
    roll = chooser.integer(1, 100)
    if roll <= BYTES_PERCENT:
        return "bytes", chooser.blob(4096)
    if roll <= BYTES_PERCENT + TEXT_PERCENT:
        encoding = chooser.choice(("utf-8", "utf-16", "gb18030", "big5"))
        return "text", fuzzkit.random_text(chooser, 200, hostile=True).encode(encoding, "replace")
    if roll <= BYTES_PERCENT + TEXT_PERCENT + GENERATED_PERCENT:
        return "generated", fuzzkit.random_dump(chooser)
    return "mutated", fuzzkit.mutate(chooser, pool)


_pool: list[bytes] = []


def _init_worker() -> None:
    global _pool
    _pool = fuzzkit.seeds()
    signal.signal(signal.SIGALRM, _on_alarm)


def _on_alarm(signum: int, frame: object) -> None:
    raise _Timeout(f"no result after {TIMEOUT_SECONDS} s")


def run_one(task: tuple[int, int]) -> Result:
    """Generate and check one input; never raises."""
    seed, index = task
    kind, data = generate(seed, index, _pool)
    started = time.perf_counter()
    signal.alarm(TIMEOUT_SECONDS)
    try:
        outcome = fuzzkit.convert_checked(data)
    except BaseException:  # everything, including the timeout and RecursionError, is a finding
        return Result(index, kind, "crash", time.perf_counter() - started, traceback.format_exc(), data)
    finally:
        signal.alarm(0)
    seconds = time.perf_counter() - started
    if isinstance(outcome, feedclean.InputError):
        return Result(index, kind, "rejected", seconds, str(outcome))
    return Result(index, kind, "ok", seconds)


def save_crash(result: Result, folder: Path, seed: int) -> Path:
    """Write the input and its traceback; identical inputs share one file."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = hashlib.sha256(result.data).hexdigest()[:16]
    (folder / f"{stem}.bin").write_bytes(result.data)
    header = f"seed {seed}, index {result.index} ({result.kind}); regenerate with --seed {seed} --only {result.index}\n\n"
    (folder / f"{stem}.txt").write_text(header + result.message, encoding="utf-8")
    return folder / f"{stem}.bin"


def crash_signature(message: str) -> str:
    """The last line of a traceback plus the innermost feedclean frame: one per distinct bug."""
    lines = [line for line in message.strip().splitlines() if line.strip()]
    frames = [line.strip() for line in lines if line.strip().startswith("File ") and "/feedclean/" in line]
    where = _NUMBERS.sub("N", frames[-1]) if frames else ""
    return f"{lines[-1][:160]} @ {where}" if lines else "?"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10_000, help="inputs to generate (default 10000)")
    parser.add_argument("--seed", type=int, default=0, help="run seed (default 0)")
    parser.add_argument("--jobs", type=int, default=multiprocessing.cpu_count(), help="worker processes (default: CPUs)")
    parser.add_argument("--crashes", type=Path, default=Path("fuzz-crashes"), help="folder for crashing inputs")
    parser.add_argument("--only", type=int, metavar="INDEX", help="run just this input (to reproduce a crash)")
    options = parser.parse_args(argv)

    indexes = [options.only] if options.only is not None else range(options.count)
    tasks = [(options.seed, index) for index in indexes]
    started = time.monotonic()
    statuses: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    rejections: Counter[str] = Counter()
    crashes: dict[str, list[Path]] = {}
    slowest: list[tuple[float, int]] = []
    context = multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")
    with context.Pool(max(1, options.jobs), initializer=_init_worker) as pool:
        for done, result in enumerate(pool.imap_unordered(run_one, tasks, chunksize=20), 1):
            statuses[result.status] += 1
            kinds[result.kind] += 1
            slowest = sorted([*slowest, (result.seconds, result.index)], reverse=True)[:5]
            if result.status == "rejected":
                rejections[_NUMBERS.sub("N", result.message)] += 1
            elif result.status == "crash":
                path = save_crash(result, options.crashes, options.seed)
                crashes.setdefault(crash_signature(result.message), []).append(path)
            if done % 1000 == 0:
                print(f"  {done:,} inputs, {statuses['crash']} crashes", file=sys.stderr, flush=True)

    print(f"inputs:   {len(tasks):,} (seed {options.seed}) in {time.monotonic() - started:.1f} s")
    print("  kinds:  " + ", ".join(f"{kind} {count:,}" for kind, count in kinds.most_common()))
    print(f"ok:       {statuses['ok']:,}")
    print(f"rejected: {statuses['rejected']:,} (InputError)")
    for message, count in rejections.most_common():
        print(f"  {count:6,}  {message}")
    print("slowest:  " + ", ".join(f"#{index} {seconds:.2f} s" for seconds, index in slowest))
    print(f"crashes:  {statuses['crash']:,}" + (f" (saved in {options.crashes}/)" if crashes else ""))
    for signature, paths in sorted(crashes.items(), key=lambda item: -len(item[1])):
        print(f"  {len(paths):6,}  {signature}\n          e.g. {paths[0]}")
    return 1 if statuses["crash"] else 0


if __name__ == "__main__":
    sys.exit(main())
