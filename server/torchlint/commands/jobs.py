"""How `torchlint check` spreads its files over worker processes (`-j`).

A worker keeps one workspace for all the files it checks: what a file's analysis reads of the
others (an imported helper, the importers of a module, Jedi's view of them) is parsed once per
worker, and again in every other worker that needs it. So the files of one directory, which
import each other, go to one worker as one unit; the largest units go first, each to whichever
worker is free (a worker slowed down by a busy machine takes fewer). And a run stays in one
process when a second could not pay for itself: too little work, or no idle CPU for it.
"""

from __future__ import annotations

import math
import multiprocessing
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TypeVar

R = TypeVar("R")

MAX_JOBS = 8
# bytes of source a worker must have to pay for its own start (its workspace, Jedi warming up,
# the files its units share with the others'), measured: about 3,000 lines
MIN_BYTES_PER_JOB = 100_000


def choose_jobs(requested: int | None, total_bytes: int, n_units: int) -> int:
    """Worker processes for the run: at most `requested` (default: one per CPU, up to
    MAX_JOBS), about one per CPU left idle by other programs (the load average says), one per
    MIN_BYTES_PER_JOB of source and one per unit; at least 1 (then the run stays in this process)."""
    cpus = _usable_cpus()
    wanted = min(cpus, MAX_JOBS) if requested is None else min(requested, cpus)
    # a worker beyond the first pays when it finds most of a CPU idle: workers share what is
    # idle and redo some of each other's reading (about 20 % more CPU for two on pytorch/examples)
    by_cpu = math.floor(cpus - _load() + 0.75)
    return max(1, min(wanted, by_cpu, total_bytes // MIN_BYTES_PER_JOB, n_units))


def plan_units(files: list[Path], sizes: list[int], jobs: int) -> list[list[int]]:
    """The files (indices into `files`) in units of work, largest first: one unit per
    directory, a directory larger than a worker's fair share split in pieces of about that size
    (parallel work matters more than sharing then)."""
    by_dir: dict[Path, list[int]] = {}
    for i, path in enumerate(files):
        by_dir.setdefault(path.parent, []).append(i)
    share = max(1, sum(sizes) // (2 * jobs))
    units: list[list[int]] = []
    for members in by_dir.values():
        piece: list[int] = []
        piece_bytes = 0
        for i in members:
            if piece and piece_bytes + sizes[i] > share:
                units.append(piece)
                piece, piece_bytes = [], 0
            piece.append(i)
            piece_bytes += sizes[i]
        units.append(piece)
    return sorted(units, key=lambda u: -sum(sizes[i] for i in u))


def run_units(
    units: list[list[int]],
    jobs: int,
    start: Callable[..., None],
    start_args: tuple,
    work: Callable[[list[int]], R],
) -> list[R]:
    """`work(unit)` for every unit in `jobs` forked workers, each set up once by
    `start(*start_args)`; the results in the order of `units`."""
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(jobs, mp_context=context, initializer=start, initargs=start_args) as pool:
        # map hands a unit to a worker as it becomes free (a queue of jobs + 1 at a time)
        return list(pool.map(work, units))


def file_sizes(files: Iterable[Path]) -> list[int]:
    out = []
    for path in files:
        try:
            out.append(path.stat().st_size)
        except OSError:
            out.append(0)
    return out


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _load(loadavg: str = "/proc/loadavg") -> float:
    """CPUs other programs keep busy: the 1-minute load average, but no more than the
    processes running right now besides this one. The average alone remembers the last
    minute, this program's own earlier runs included (`torchlint check` twice in a row saw a
    busy machine and stayed in one process); a program that keeps a CPU busy is running at
    any moment, so it still counts."""
    try:
        with open(loadavg, encoding="ascii") as fh:
            fields = fh.read().split()
        running = int(fields[3].split("/")[0]) - 1  # this process is running too
        return max(0.0, min(float(fields[0]), float(running)))
    except (OSError, IndexError, ValueError):
        pass
    try:
        return os.getloadavg()[0]
    except OSError:
        return 0.0
