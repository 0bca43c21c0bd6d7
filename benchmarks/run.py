"""Benchmark feedclean against the parse floor and its peers, as whole processes over the same files.

    python benchmarks/run.py            # the full suite (a few minutes)
    python benchmarks/run.py --quick    # a smaller run (well under a minute)

Every tool runs as its own process over a whole folder of dumps, because that
is how feedclean is used (a cron job converting a folder): start-up, imports,
reading and writing are part of the cost a user pays. Each process is reaped
with os.wait4, which gives that process tree's own CPU time and peak RSS
(getrusage(RUSAGE_CHILDREN) would mix every child this script ever ran).

It prints the machine, a throughput table, the memory and incremental runs
and the issue's targets, and writes the same Markdown to
benchmarks/results/latest.md. Timings are recorded, never asserted: the
targets are reported as met or not, and the exit status is 0 either way.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from importlib import metadata, util
from pathlib import Path

from corpus import build_corpus, load_samples

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PEERS = HERE / "peers"
MIB = 1024 * 1024

# The targets.
TARGET_VS_TRAFILATURA = 4.0  # feedclean -j 1 docs/s at least this many times trafilatura's
TARGET_VS_FLOOR = 10.0  # feedclean -j 1 time at most this many times the parse floor's
TARGET_TWO_JOBS = 1.7  # feedclean -j 2 docs/s at least this many times -j 1's
TARGET_MEMORY_GROWTH = 1.15  # peak RSS on the large corpus at most this many times the small one's
TARGET_RERUN_SECONDS = 1.0  # an unchanged re-run over the large corpus
OFFICIAL_SIZES = (1000, 20000)  # the small and large corpus the memory and re-run targets are set for

# The tools run as a user's would: with byte-code caching on, whatever this shell says.
CHILD_ENV = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
# The packages whose versions a result depends on, in the order printed.
VERSIONED = ("feedclean", "lxml", "trafilatura", "readability-lxml", "markdownify")
# The modules the tools import, with the package that provides each.
REQUIRED = {
    "feedclean": "feedclean",
    "lxml": "lxml",
    "trafilatura": "trafilatura",
    "readability": "readability-lxml",
    "markdownify": "markdownify",
}


class BenchmarkError(Exception):
    """A tool failed or did not process every file: its timing would mean nothing."""


@dataclass(frozen=True)
class Counts:
    """What a run did with its inputs."""

    converted: int
    unchanged: int
    failed: int


@dataclass(frozen=True)
class Feedclean:
    """`feedclean convert` with a given number of workers, forced (cold) or incremental."""

    jobs: int | None  # None: feedclean's default, one worker per CPU
    force: bool = True

    @property
    def label(self) -> str:
        return "feedclean" + (f" -j {self.jobs}" if self.jobs is not None else "")

    def argv(self, input_dir: Path, output_dir: Path) -> list[str]:
        # --settle 0: the corpus is not being written, so no input is waited for.
        command = [sys.executable, "-m", "feedclean", "convert", str(input_dir), "-o", str(output_dir), "-q", "--no-user-rules"]
        command += ["--settle", "0"]
        command += ["--report", str(_report_file(output_dir))]
        if self.jobs is not None:
            command += ["-j", str(self.jobs)]
        if self.force:
            command.append("--force")
        return command

    def counts(self, stdout: str, output_dir: Path) -> Counts:
        report = json.loads(_report_file(output_dir).read_text())
        return Counts(report["converted"], report["unchanged"], report["failed"])


@dataclass(frozen=True)
class Peer:
    """A script in benchmarks/peers/ that processes a folder and says how many files it did."""

    label: str
    script: str
    writes: bool = True  # the floor only parses, so it takes no output folder

    def argv(self, input_dir: Path, output_dir: Path) -> list[str]:
        command = [sys.executable, str(PEERS / self.script), str(input_dir)]
        return [*command, str(output_dir)] if self.writes else command

    def counts(self, stdout: str, output_dir: Path) -> Counts:
        report = json.loads(stdout)
        return Counts(report["docs"] - report["failed"], 0, report["failed"])


Tool = Feedclean | Peer

FLOOR = Peer("parse floor (lxml)", "floor.py", writes=False)
TRAFILATURA = Peer("trafilatura (Markdown)", "trafilatura_md.py")
ONE_JOB = Feedclean(jobs=1)
TWO_JOBS = Feedclean(jobs=2)
THROUGHPUT_TOOLS: tuple[Tool, ...] = (
    FLOOR,
    ONE_JOB,
    TWO_JOBS,
    TRAFILATURA,
    Peer("readability-lxml + markdownify", "readability_md.py"),
)


@dataclass(frozen=True)
class Measurement:
    """One whole process: wall time, CPU time and peak RSS of its tree, and what it did."""

    seconds: float
    cpu_seconds: float
    peak_rss: int  # bytes, of the largest single process in the tree
    counts: Counts


def measure(tool: Tool, input_dir: Path, output_dir: Path, scratch: Path) -> Measurement:
    """Run `tool` once over `input_dir`; raise BenchmarkError unless it exits 0 having seen every file."""
    stdout_path, stderr_path = scratch / "stdout.txt", scratch / "stderr.txt"
    command = tool.argv(input_dir, output_dir)
    with open(stdout_path, "wb") as stdout, open(stderr_path, "wb") as stderr:
        started = time.perf_counter()
        # From the repository, `python -m feedclean` imports this checkout's feedclean, whatever else is installed.
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, cwd=REPO, env=CHILD_ENV)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, so Popen must not wait again
    if process.returncode != 0:
        error = stderr_path.read_text(errors="replace").strip()[-2000:]
        raise BenchmarkError(f"{tool.label} exited with status {process.returncode}:\n  {' '.join(command)}\n{error}")
    try:
        counts = tool.counts(stdout_path.read_text(), output_dir)
    except (OSError, ValueError, KeyError) as error:
        raise BenchmarkError(f"{tool.label} did not say what it did: {error}") from None
    total = counts.converted + counts.unchanged + counts.failed
    expected = sum(1 for path in input_dir.iterdir() if not path.name.startswith("."))  # corpora are flat
    if total != expected:
        raise BenchmarkError(f"{tool.label} processed {total} of {expected} files in {input_dir}")
    # ru_maxrss is in KiB on Linux, in bytes on macOS.
    peak = usage.ru_maxrss if sys.platform == "darwin" else usage.ru_maxrss * 1024
    return Measurement(seconds, usage.ru_utime + usage.ru_stime, peak, counts)


def _report_file(output_dir: Path) -> Path:
    """feedclean's --report goes beside the output folder, so the folder holds only outputs."""
    return output_dir.with_name(output_dir.name + ".report.json")


def fresh_output(scratch: Path) -> Path:
    """An output folder that does not exist yet, so every cold run starts from nothing."""
    output = scratch / "out"
    shutil.rmtree(output, ignore_errors=True)
    return output


def best_of(tools: tuple[Tool, ...], input_dir: Path, scratch: Path, repeats: int) -> dict[str, Measurement]:
    """Each tool's fastest of `repeats` cold runs (each into a fresh output folder), with the highest peak RSS seen.

    The tools take turns (one run of each, then again), so a burst of load
    from elsewhere on the machine spoils one run of several tools rather than
    every run of one.
    """
    runs: dict[str, list[Measurement]] = {tool.label: [] for tool in tools}
    for attempt in range(1, repeats + 1):
        for tool in tools:
            run = measure(tool, input_dir, fresh_output(scratch), scratch)
            runs[tool.label].append(run)
            _progress(f"{tool.label}: run {attempt}/{repeats}: {run.seconds:.2f} s")
    best = {}
    for label, measured in runs.items():
        fastest = min(measured, key=lambda run: run.seconds)
        best[label] = Measurement(fastest.seconds, fastest.cpu_seconds, max(run.peak_rss for run in measured), fastest.counts)
    return best


@dataclass(frozen=True)
class Settings:
    """What to run, from the command line."""

    files: int
    small: int
    large: int
    repeats: int
    seed: int
    corpus_dir: Path
    scratch_dir: Path | None  # None: the system's temporary folder
    results: Path


@dataclass(frozen=True)
class Results:
    """Everything one benchmark run measured."""

    settings: Settings
    samples: list[str]  # the sample files the corpora were made from
    throughput: dict[str, Measurement]
    small: Measurement
    large: Measurement
    rerun: Measurement


def run_suite(settings: Settings, scratch: Path) -> Results:
    """Build the corpora, then run every measurement the report needs."""
    samples = load_samples(REPO / "samples")
    _progress(f"corpus made from {', '.join(sample.name for sample in samples)}")
    main_corpus = build_corpus(samples, settings.corpus_dir / str(settings.files), settings.files, settings.seed)
    small_corpus = build_corpus(samples, settings.corpus_dir / str(settings.small), settings.small, settings.seed)
    large_corpus = build_corpus(samples, settings.corpus_dir / str(settings.large), settings.large, settings.seed)

    _progress(f"throughput: {settings.files} files, best of {settings.repeats}")
    throughput = best_of(THROUGHPUT_TOOLS, main_corpus, scratch, settings.repeats)

    _progress(f"memory: {ONE_JOB.label} over {settings.small} and {settings.large} files")
    small = measure(ONE_JOB, small_corpus, fresh_output(scratch), scratch)
    # The large cold run also fills the output folder the re-runs then find unchanged.
    filled = fresh_output(scratch)
    large = measure(ONE_JOB, large_corpus, filled, scratch)

    rerun_tool = Feedclean(jobs=None, force=False)
    reruns = []
    for attempt in range(1, settings.repeats + 1):
        reruns.append(measure(rerun_tool, large_corpus, filled, scratch))
        if reruns[-1].counts.unchanged != settings.large:
            raise BenchmarkError(f"the re-run converted files again: {reruns[-1].counts}")
        _progress(f"unchanged re-run {attempt}/{settings.repeats}: {reruns[-1].seconds:.2f} s")
    rerun = min(reruns, key=lambda run: run.seconds)
    return Results(settings, [sample.name for sample in samples], throughput, small, large, rerun)


def machine_info(scratch_dir: Path) -> dict[str, str]:
    """What the figures depend on: the CPU, the core count, the load, the disk, the OS and every version involved."""
    from lxml import etree

    info = {
        "date": datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "CPU": _cpu_model(),
        "cores": f"{len(os.sched_getaffinity(0))} usable of {os.cpu_count()}",
        "OS": platform.platform(),
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
        # Other work on the machine slows every tool; above the core count, figures are pessimistic.
        "load average (1 min)": f"{os.getloadavg()[0]:.2f} at start",
        # Creating thousands of output files costs far more on some disks than on others (or tmpfs).
        "outputs written to": f"{scratch_dir} ({_filesystem(scratch_dir)})",
    }
    for package in VERSIONED:
        info[package] = metadata.version(package)
    info["lxml"] += " (libxml2 " + ".".join(map(str, etree.LIBXML_VERSION)) + ")"
    info["feedclean"] += _git_revision()
    return info


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _filesystem(path: Path) -> str:
    """The type of the filesystem `path` is on, from the longest matching mount point in /proc/mounts."""
    resolved = str(path.resolve())
    best, kind = "", "unknown filesystem"
    try:
        with open("/proc/mounts") as mounts:
            for line in mounts:
                device, mount_point, fs_type = line.split()[:3]
                inside = resolved == mount_point or resolved.startswith(mount_point.rstrip("/") + "/")
                if inside and len(mount_point) >= len(best):
                    best, kind = mount_point, f"{fs_type} on {device}"
    except OSError:
        pass
    return kind


def _git_revision() -> str:
    """The commit benchmarked, marked when feedclean/ has uncommitted changes (the usual case while optimising)."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "feedclean"], cwd=REPO, capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return ""
    return f" (git {commit.stdout.strip()}{', with uncommitted changes in feedclean/' if dirty.stdout.strip() else ''})"


def report(results: Results, machine: dict[str, str]) -> str:
    """The results as Markdown: machine, throughput, memory and re-run, targets."""
    settings = results.settings
    rows = results.throughput
    floor, one, two, trafilatura = (rows[tool.label] for tool in (FLOOR, ONE_JOB, TWO_JOBS, TRAFILATURA))
    lines = ["# feedclean benchmark", "", "| | |", "| --- | --- |"]
    lines += [f"| {key} | {value} |" for key, value in machine.items()]

    lines += ["", f"## Throughput: {settings.files:,} dumps, whole processes, best of {settings.repeats}", ""]
    lines += [f"Dumps made from `samples/` {', '.join(f'`{name}`' for name in results.samples)}.", ""]
    lines += [
        "| tool | wall s | docs/s | ms/doc | CPU s | peak RSS MiB | failed | × floor time | × trafilatura docs/s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label, run in rows.items():
        lines.append(
            f"| {label} | {run.seconds:.2f} | {settings.files / run.seconds:,.0f} | {run.seconds / settings.files * 1000:.2f}"
            f" | {run.cpu_seconds:.2f} | {run.peak_rss / MIB:.0f} | {run.counts.failed}"
            f" | {run.seconds / floor.seconds:.2f} | {trafilatura.seconds / run.seconds:.2f} |"
        )

    lines += ["", "## Memory and the incremental path", ""]
    lines += ["| run | files | wall s | peak RSS MiB |", "| --- | ---: | ---: | ---: |"]
    for name, files, run in (
        (f"{ONE_JOB.label}, cold", settings.small, results.small),
        (f"{ONE_JOB.label}, cold", settings.large, results.large),
        (f"feedclean (default -j), all unchanged, best of {settings.repeats}", settings.large, results.rerun),
    ):
        lines.append(f"| {name} | {files:,} | {run.seconds:.2f} | {run.peak_rss / MIB:.1f} |")

    vs_trafilatura = trafilatura.seconds / one.seconds
    vs_floor = one.seconds / floor.seconds
    two_jobs = one.seconds / two.seconds
    growth = results.large.peak_rss / results.small.peak_rss
    targets = [
        (
            "docs/s vs trafilatura, one worker",
            f"{vs_trafilatura:.2f}×",
            f"≥ {TARGET_VS_TRAFILATURA:g}×",
            vs_trafilatura >= TARGET_VS_TRAFILATURA,
        ),
        ("time vs the parse floor, one worker", f"{vs_floor:.2f}×", f"≤ {TARGET_VS_FLOOR:g}×", vs_floor <= TARGET_VS_FLOOR),
        ("docs/s with -j 2 vs -j 1", f"{two_jobs:.2f}×", f"≥ {TARGET_TWO_JOBS:g}×", two_jobs >= TARGET_TWO_JOBS),
        (
            f"peak RSS, {settings.large:,} vs {settings.small:,} files",
            f"{growth:.3f}×",
            f"≤ {TARGET_MEMORY_GROWTH:g}×",
            growth <= TARGET_MEMORY_GROWTH,
        ),
        (
            f"unchanged re-run, {settings.large:,} files",
            f"{results.rerun.seconds:.2f} s",
            f"< {TARGET_RERUN_SECONDS:g} s",
            results.rerun.seconds < TARGET_RERUN_SECONDS,
        ),
    ]
    lines += ["", "## Targets", "", "| target | measured | goal | met |", "| --- | ---: | ---: | --- |"]
    lines += [f"| {name} | {measured} | {goal} | {'yes' if met else '**no**'} |" for name, measured, goal, met in targets]
    notes = [
        f"By CPU time instead of wall time (less disturbed by other load on the machine), feedclean -j 1 is"
        f" {trafilatura.cpu_seconds / one.cpu_seconds:.2f}× trafilatura and {one.cpu_seconds / floor.cpu_seconds:.2f}× the floor."
    ]
    if (settings.small, settings.large) != OFFICIAL_SIZES:
        notes.append(
            f"The memory and re-run targets are set for {OFFICIAL_SIZES[0]:,} vs {OFFICIAL_SIZES[1]:,} files;"
            f" this run used {settings.small:,} vs {settings.large:,}."
        )
    if len(os.sched_getaffinity(0)) < 2:
        notes.append("Fewer than two usable cores: the -j 2 figure cannot show scaling here.")
    lines += ["", *(f"- {note}" for note in notes)]
    return "\n".join(lines) + "\n"


def _progress(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


def parse_arguments(argv: list[str] | None) -> Settings:
    """Settings from the command line; --quick only changes the defaults, explicit options win."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller corpora and one repeat: 300 files, 200 vs 2,000, 1 repeat")
    parser.add_argument("--files", type=int, help="dumps in the throughput corpus (default 3000)")
    parser.add_argument("--small-files", type=int, help="the small corpus of the memory comparison (default 1000)")
    parser.add_argument("--large-files", type=int, help="the large corpus of the memory comparison and re-run (default 20000)")
    parser.add_argument("--repeats", type=int, help="runs per throughput figure and re-run; the best counts (default 3)")
    parser.add_argument("--seed", type=int, default=1, help="corpus generator seed (default 1)")
    parser.add_argument("--corpus", type=Path, default=HERE / "corpus", help="where corpora are kept (default benchmarks/corpus)")
    parser.add_argument(
        "--scratch", type=Path, help="where outputs are written during runs (default: the system's temporary folder)"
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=HERE / "results" / "latest.md",
        help="Markdown report (default benchmarks/results/latest.md)",
    )
    args = parser.parse_args(argv)
    defaults = (300, 200, 2000, 1) if args.quick else (3000, *OFFICIAL_SIZES, 3)
    chosen = [
        given if given is not None else default
        for given, default in zip((args.files, args.small_files, args.large_files, args.repeats), defaults, strict=True)
    ]
    if min(chosen) < 1:
        parser.error("file counts and --repeats must be at least 1")
    return Settings(*chosen, seed=args.seed, corpus_dir=args.corpus.resolve(), scratch_dir=args.scratch, results=args.results)


def main(argv: list[str] | None = None) -> int:
    """Run the suite, print the report and save it; 2 when the tools are missing or one fails."""
    settings = parse_arguments(argv)
    missing = sorted({package for module, package in REQUIRED.items() if util.find_spec(module) is None})
    if missing:
        print(f"missing: {', '.join(missing)}; install with: pip install -e '.[bench]'", file=sys.stderr)
        return 2
    machine = machine_info(settings.scratch_dir or Path(tempfile.gettempdir()))
    # Byte-code compiled once, as an installed package has it, so start-up is not a compile in every run.
    compileall.compile_dir(REPO / "feedclean", quiet=1)
    compileall.compile_dir(PEERS, quiet=1)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="feedclean-bench-", dir=settings.scratch_dir) as scratch:
        try:
            results = run_suite(settings, Path(scratch))
        except BenchmarkError as error:
            print(f"benchmark failed: {error}", file=sys.stderr)
            return 2
    machine["load average (1 min)"] += f", {os.getloadavg()[0]:.2f} at end"
    markdown = report(results, machine)
    print(markdown)
    settings.results.parent.mkdir(parents=True, exist_ok=True)
    settings.results.write_text(markdown, encoding="utf-8")
    _progress(f"written to {settings.results} ({time.perf_counter() - started:.0f} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
