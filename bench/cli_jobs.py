"""`torchlint check -j`: one process against several, in interleaved rounds, with and without
other programs keeping the CPUs busy.

    python bench/cli_jobs.py DIR [--rounds 5] [--spinners 0,2]

Variants (all `--no-cache`, JSON output compared across variants: it must be identical):
- `-j 1`: one process;
- `-j 2`: what the CLI chooses when asked for two (fewer when the CPUs are busy or the work is small);
- `-j 2 forced`: two workers whatever the load and size (directories kept together, largest first);
- `-j 2 round-robin`: two workers, files dealt alternately (the partition before issue 15).
`--spinners N` starts N busy loops in their own session for a round set (other programs on the
machine); wall time is the median per variant, CPU time is the run's user + system including
its workers.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

FORCE = """
import sys
from torchlint.commands import jobs
jobs._load = lambda: 0.0
jobs.MIN_BYTES_PER_JOB = 1
"""
ROUND_ROBIN = (
    FORCE
    + """
import torchlint.commands.check as check
check.plan_units = lambda files, sizes, n: [list(range(len(files)))[i::n] for i in range(n)]
"""
)
MAIN = "\nfrom torchlint.cli import main\nsys.exit(main(sys.argv[1:]))\n"

VARIANTS = {
    "-j 1": ([sys.executable, "-m", "torchlint"], ["-j", "1"]),
    "-j 2": ([sys.executable, "-m", "torchlint"], ["-j", "2"]),
    "-j 2 forced": ([sys.executable, "-c", FORCE + MAIN], ["-j", "2"]),
    "-j 2 round-robin": ([sys.executable, "-c", ROUND_ROBIN + MAIN], ["-j", "2"]),
}


def run(variant: str, corpus: Path, out: Path) -> tuple[float, float]:
    pre, post = VARIANTS[variant]
    args = [*pre, "check", str(corpus), "--no-cache", "--exit-zero", "--format", "json", *post]
    start = time.perf_counter()
    with out.open("w") as fh:
        proc = subprocess.Popen(args, stdout=fh, stderr=subprocess.DEVNULL)
        _, _, usage = os.wait4(proc.pid, 0)
    return time.perf_counter() - start, usage.ru_utime + usage.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--spinners", default="0", help="comma-separated counts of busy loops, one round set each")
    ap.add_argument("--out", type=Path, default=Path("/tmp/cli_jobs"))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"{os.cpu_count()} CPUs; load average at start {os.getloadavg()[0]:.1f}")
    for n in (int(x) for x in args.spinners.split(",")):
        # in their own session, as another program would be: Linux's autogroup scheduling
        # shares the CPUs between sessions first, then between the processes of a session
        spinners = [
            subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True) for _ in range(n)
        ]
        try:
            times: dict[str, list[tuple[float, float]]] = {v: [] for v in VARIANTS}
            loads = []
            for _ in range(args.rounds):
                for v in VARIANTS:
                    times[v].append(run(v, args.corpus, args.out / f"{v.replace(' ', '_')}.json"))
                loads.append(os.getloadavg()[0])
        finally:
            for s in spinners:
                s.kill()
                s.wait()
        outputs = {(args.out / f"{v.replace(' ', '_')}.json").read_text() for v in VARIANTS}
        base = statistics.median(w for w, _ in times["-j 1"])
        print(
            f"\n{n} busy loops; load average {min(loads):.1f}-{max(loads):.1f}; outputs identical: {len(outputs) == 1}"
        )
        print(f"{'variant':<18} {'wall median':>11} {'/ -j 1':>7} {'CPU median':>11}")
        for v, xs in times.items():
            wall = statistics.median(w for w, _ in xs)
            cpu = statistics.median(c for _, c in xs)
            print(f"{v:<18} {wall:>10.2f}s {wall / base:>7.2f} {cpu:>10.2f}s")


if __name__ == "__main__":
    main()
