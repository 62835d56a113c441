"""`torchlint check` on a directory of real code: wall time against the parse floor and against
another torchlint (e.g. an older commit), and what Jedi costs inside it.

    python bench/cli_corpus.py DIR [--rounds 3] [--baseline SERVER_DIR] [--jobs 1]

- parse floor: `ast.parse` of every file in one process (collector off, as timeit), best of 3;
- cli: `python -m torchlint check DIR` in a subprocess (this checkout), median of the rounds,
  with `--no-jedi` too; with `--baseline`, the same command with PYTHONPATH=SERVER_DIR (for
  example a `git worktree` of an older commit's `server/`), the rounds interleaved so that
  load on a shared machine hits both alike;
- jedi: in-process, the time spent in Jedi's `goto` (cold: a fresh checker; warm: the same
  files again with the same checker), in all and for the five most expensive files.
Nothing is asserted: figures are recorded in bench/README.md.
"""

from __future__ import annotations

import argparse
import ast
import gc
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))


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


def cli_time(d: Path, server: Path | None, extra: list[str], jobs: str | None) -> float:
    env = dict(os.environ)
    if server is not None:
        env["PYTHONPATH"] = str(server)
    cmd = [sys.executable, "-m", "torchlint", "check", str(d), "--exit-zero", *extra]
    if jobs:
        cmd += ["-j", jobs]
    t = time.perf_counter()
    subprocess.run(cmd, env=env, capture_output=True, check=False, cwd="/")
    return time.perf_counter() - t


def jedi_cost(files: list[Path], root: Path) -> tuple[float, float, float, list[tuple[float, str]]]:
    """(total analysis s, jedi s cold, jedi s warm, [(jedi s, file)] of the cold pass)."""
    from torchlint.analysis import workspace as ws_mod
    from torchlint.checker import Checker

    spent = {"t": 0.0}
    original = ws_mod.Workspace._jedi_goto

    def timed(self, model, node):
        t = time.perf_counter()
        try:
            return original(self, model, node)
        finally:
            spent["t"] += time.perf_counter() - t

    ws_mod.Workspace._jedi_goto = timed
    try:
        checker = Checker(root=root)
        per_file = []
        t0 = time.perf_counter()
        for f in files:
            before = spent["t"]
            checker.check_file(str(f), f.read_text(encoding="utf-8", errors="replace"))
            per_file.append((spent["t"] - before, str(f.relative_to(root))))
        total = time.perf_counter() - t0
        cold = spent["t"]
        spent["t"] = 0.0
        for f in files:
            checker.check_file(str(f), f.read_text(encoding="utf-8", errors="replace"))
        warm = spent["t"]
    finally:
        ws_mod.Workspace._jedi_goto = original
    return total, cold, warm, sorted(per_file, reverse=True)[:5]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dir", type=Path)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--baseline", type=Path, help="a `server/` directory of another torchlint to compare with")
    ap.add_argument("--jobs", default=None, help="-j for the CLI runs (default: the CLI's own choice)")
    args = ap.parse_args()
    d = args.dir.resolve()
    files = files_of(d)
    lines = sum(f.read_text(encoding="utf-8", errors="replace").count("\n") for f in files)
    floor = parse_floor(files)
    print(f"{d.name}: {len(files)} files, {lines:,} lines; ast.parse floor {floor:.3f} s")

    runs: dict[str, list[float]] = {"cli": [], "cli --no-jedi": []}
    if args.baseline:
        runs["baseline"] = []
    for _ in range(args.rounds):
        runs["cli"].append(cli_time(d, None, [], args.jobs))
        runs["cli --no-jedi"].append(cli_time(d, None, ["--no-jedi"], args.jobs))
        if args.baseline:
            runs["baseline"].append(cli_time(d, args.baseline.resolve(), [], args.jobs))
    for name, times in runs.items():
        med = statistics.median(times)
        print(f"  {name:<14} median {med:6.2f} s  ({', '.join(f'{t:.2f}' for t in times)})  {med / floor:5.1f}x parse")
    if args.baseline:
        print(f"  cli / baseline: {statistics.median(runs['cli']) / statistics.median(runs['baseline']):.2f}")

    total, cold, warm, top = jedi_cost(files, d)
    print(f"  in-process analysis {total:.2f} s; Jedi goto: cold {cold:.2f} s ({cold / total:.0%}), warm {warm:.3f} s")
    for t, name in top:
        if t > 0:
            print(f"    {t * 1000:7.1f} ms  {name}")


if __name__ == "__main__":
    main()
