"""`torchlint check` on a directory of real code, against the parse floor, TorchFix and
(optionally) another torchlint, all measured in the same run with the rounds interleaved.

    python bench/cli_corpus.py DIR [--rounds 3] [--jobs 1] [--server SERVER_DIR] [--baseline SERVER_DIR]

Measured, each a subprocess timed from the outside (median of the rounds):
- floor (process): a fresh interpreter that reads and `ast.parse`s every file of DIR (what
  /tmp/floor.py does): the least any Python linter started per run can cost;
- cold: `torchlint check DIR --no-cache`, with `-j 1` and `-j 2` (or `--jobs`), without `-j` (the
  default: one process per idle CPU, as TorchFix's default), and `--no-jedi`,
  from this checkout or from `--server SERVER_DIR` (PYTHONPATH): on a tree others are editing,
  pass a frozen copy (`git archive HEAD server | tar -x -C DIR`), as the cache key holds the
  stamps of torchlint's own files and every edit of them empties the cache;
- warm: the same command again with the result cache filled and nothing changed (a fresh
  cache directory, filled once before the rounds);
- TorchFix: `torchfix DIR` (skipped when not installed);
- baseline: with `--baseline SERVER_DIR`, the cold command with PYTHONPATH=SERVER_DIR (for
  example a `git worktree` of an older commit's `server/`).
And in-process: the `ast.parse` floor (collector off, best of 3), and the time spent in Jedi's
`goto` (cold: a fresh checker; warm: the same files again). Nothing is asserted: figures are
recorded in bench/README.md.
"""

from __future__ import annotations

import argparse
import ast
import gc
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))

FLOOR = """
import ast, sys, pathlib
for p in pathlib.Path(sys.argv[1]).rglob("*.py"):
    try:
        ast.parse(p.read_text(errors="replace"))
    except Exception:
        pass
"""


def files_of(d: Path) -> list[Path]:
    from torchlint.commands.discover import discover
    from torchlint.config import Config

    return discover([d], Config())


def parse_floor(files: list[Path]) -> float:
    texts = [f.read_text(encoding="utf-8", errors="replace") for f in files]
    best = float("inf")
    for _ in range(3):
        gc.disable()
        t = time.perf_counter()
        for text in texts:
            try:
                ast.parse(text)
            except (SyntaxError, ValueError):
                pass
        best = min(best, time.perf_counter() - t)
        gc.enable()
    return best


# Users run torchlint from compiled bytecode (pip writes it); an environment with
# PYTHONDONTWRITEBYTECODE=1 would have every run compile torchlint's modules again (~0.25 s).
# Every process here writes and reads its bytecode under one prefix instead.
_PYCACHE = tempfile.mkdtemp(prefix="torchlint-bench-pycache-")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = _PYCACHE
    return env


def timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, env=env or _env(), capture_output=True, check=False, cwd="/")
    return time.perf_counter() - t


def torchlint(d: Path, *extra: str, server: Path | None = None) -> Callable[[], float]:
    env = _env()
    if server is not None:
        env["PYTHONPATH"] = str(server)
    cmd = [sys.executable, "-m", "torchlint", "check", str(d), "--exit-zero", *extra]
    return lambda: timed(cmd, env)


def jedi_cost(files: list[Path], root: Path) -> tuple[float, float, float, int, list[tuple[float, str]]]:
    """(analysis s, jedi s cold, jedi s warm, goto calls cold, [(jedi s, file)] of the cold pass)."""
    from torchlint.analysis import jedi_bridge
    from torchlint.checker import Checker

    spent = {"t": 0.0, "n": 0}
    original = jedi_bridge.JediBridge._goto

    def counted(self, model, node):
        t = time.perf_counter()
        try:
            return original(self, model, node)
        finally:
            spent["t"] += time.perf_counter() - t
            spent["n"] += 1

    jedi_bridge.JediBridge._goto = counted
    try:
        checker = Checker(root=root)
        per_file = []
        t0 = time.perf_counter()
        for f in files:
            before = spent["t"]
            checker.check_file(str(f), f.read_text(encoding="utf-8", errors="replace"))
            per_file.append((spent["t"] - before, str(f.relative_to(root))))
        total = time.perf_counter() - t0
        cold, calls = spent["t"], int(spent["n"])
        spent["t"] = 0.0
        for f in files:
            checker.check_file(str(f), f.read_text(encoding="utf-8", errors="replace"))
        warm = spent["t"]
    finally:
        jedi_bridge.JediBridge._goto = original
    return total, cold, warm, calls, sorted(per_file, reverse=True)[:5]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dir", type=Path)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--jobs", default="1", help="-j of the main runs (default 1); -j 2 is measured too")
    ap.add_argument(
        "--server", type=Path, help="the `server/` directory of the torchlint to measure (default: this one)"
    )
    ap.add_argument("--baseline", type=Path, help="a `server/` directory of another torchlint to compare with")
    args = ap.parse_args()
    here = args.server.resolve() if args.server else None
    d = args.dir.resolve()
    files = files_of(d)
    lines = sum(f.read_text(encoding="utf-8", errors="replace").count("\n") for f in files)
    in_process = parse_floor(files)
    load = os.getloadavg()
    print(f"{d.name}: {len(files)} files, {lines:,} lines; nproc {os.cpu_count()}, load {load[0]:.1f} {load[1]:.1f}")

    cache_dir = Path(tempfile.mkdtemp(prefix="torchlint-bench-cache-"))
    jobs = f"-j{args.jobs}"
    runs: dict[str, Callable[[], float]] = {
        "floor (process)": lambda: timed([sys.executable, "-c", FLOOR, str(d)]),
        f"cold {jobs}": torchlint(d, "--no-cache", jobs, server=here),
        "cold -j2": torchlint(d, "--no-cache", "-j2", server=here),
        "cold (default -j)": torchlint(d, "--no-cache", server=here),  # what users run, as TorchFix's default
        f"cold {jobs} --no-jedi": torchlint(d, "--no-cache", "--no-jedi", jobs, server=here),
        f"warm {jobs}": torchlint(d, "--cache-dir", str(cache_dir), jobs, server=here),
        "warm -j2": torchlint(d, "--cache-dir", str(cache_dir), "-j2", server=here),
    }
    if shutil.which("torchfix"):
        runs["torchfix"] = lambda: timed(["torchfix", str(d)])
        timed(["torchfix", "--help"])  # its bytecode written before the rounds, as ours
    else:
        print("  (torchfix not installed: skipped)")
    base_cache = cache_dir / "baseline"
    if args.baseline:
        server = args.baseline.resolve()
        runs[f"baseline cold {jobs}"] = torchlint(d, "--no-cache", jobs, server=server)
        runs[f"baseline warm {jobs}"] = torchlint(d, "--cache-dir", str(base_cache), jobs, server=server)
        torchlint(d, "--cache-dir", str(base_cache), jobs, server=server)()  # fill its cache
    torchlint(d, "--cache-dir", str(cache_dir), jobs, server=here)()  # fill the cache

    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.rounds):
        for name, run in runs.items():
            times[name].append(run())
    shutil.rmtree(cache_dir, ignore_errors=True)
    shutil.rmtree(_PYCACHE, ignore_errors=True)

    med = {name: statistics.median(t) for name, t in times.items()}
    floor = med["floor (process)"]
    print(f"  ast.parse in-process floor {in_process:.3f} s; process floor {floor:.3f} s")
    print(f"  {'':<24} {'median':>8}  {'x process floor':>15}  {'x in-process':>12}  rounds")
    for name, m in med.items():
        rounds = ", ".join(f"{t:.2f}" for t in times[name])
        print(f"  {name:<24} {m:7.2f}s  {m / floor:15.1f}  {m / in_process:12.1f}  ({rounds})")
    if "torchfix" in med:
        print(f"  torchfix / cold {jobs}: {med['torchfix'] / med[f'cold {jobs}']:.1f}x")
        # TorchFix runs one process per CPU by default, as torchlint does
        print(f"  torchfix / cold (default -j): {med['torchfix'] / med['cold (default -j)']:.1f}x")
    print(f"  cold -j2 / cold {jobs}: {med['cold -j2'] / med[f'cold {jobs}']:.2f}")
    if args.baseline:
        print(f"  cold / baseline cold: {med[f'cold {jobs}'] / med[f'baseline cold {jobs}']:.2f}")
        print(f"  warm / baseline warm: {med[f'warm {jobs}'] / med[f'baseline warm {jobs}']:.2f}")

    total, cold, warm, calls, top = jedi_cost(files, d)
    print(
        f"  in-process analysis {total:.2f} s; Jedi goto: {calls} calls, cold {cold:.2f} s "
        f"({cold / total:.0%}), warm {warm:.3f} s"
    )
    for t, name in top:
        if t > 0:
            print(f"    {t * 1000:7.1f} ms  {name}")


if __name__ == "__main__":
    main()
